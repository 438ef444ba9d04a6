-- Feeds the runs index (create_task_runs.sql) from every block inserted into the log
-- table. Column expressions come from the table's shape (materialized columns on a
-- tasklogs table, the map lookups they stand for on a contrib-created one).
CREATE MATERIALIZED VIEW IF NOT EXISTS ${view} ${on_cluster} TO ${index} AS
${select}
