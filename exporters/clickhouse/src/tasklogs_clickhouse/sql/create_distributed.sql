-- Cluster mode: the table every writer and reader uses, over the replicated local table
-- on each node; rows of one task run stay on one shard, so its history is one range.
CREATE TABLE IF NOT EXISTS ${table} ${on_cluster}
AS ${local_table}
ENGINE = Distributed(${cluster}, ${database}, ${local_name}, cityHash64(ResourceAttributes['cicd.pipeline.task.run.id']))
