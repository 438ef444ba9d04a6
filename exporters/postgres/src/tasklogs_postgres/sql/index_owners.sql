-- The owner of each of the batch's task runs (after index_claim.sql).
SELECT task_run_id, tenant FROM "${schema}"."${table}_task_runs"
WHERE task_run_id = ANY(%(ids)s::text[])
