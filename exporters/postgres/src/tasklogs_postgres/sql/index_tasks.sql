-- Task runs of the runs index: one task run (%(task_run_id)s) or a run's (%(run_id)s),
-- of %(tenant)s unless it is NULL.
SELECT task_run_id, pipeline_run_id, tenant, pipeline_name, task_name, service_name,
       attempt, first_ns, last_ns, line_count, error_count, first_error_seq, max_seq,
       result, exit_code, end_ns
FROM "${schema}"."${table}_task_runs"
WHERE (%(task_run_id)s::text IS NULL OR task_run_id = %(task_run_id)s::text)
  AND (%(run_id)s::text IS NULL OR pipeline_run_id = %(run_id)s::text)
  AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s::text)
ORDER BY first_ns, task_run_id
