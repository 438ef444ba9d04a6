-- One page of pipeline runs, newest first by the start of their first task run, from
-- the runs index only (task_runs.sql as the inner query). Every value is a bound
-- parameter; ${having} is composed of fixed fragments.
SELECT
    pipeline_run_id AS run_id,
    max(pipeline_name) AS run_pipeline,
    min(first_ns) AS run_start,
    groupArray(tuple(task_run_id, pipeline_run_id, tenant, pipeline_name, task_name,
        service_name, attempt, first_ns, last_ns, line_count, error_count,
        first_error_seq, max_seq, result, exit_code, end_ns)) AS tasks
FROM (${inner})
GROUP BY pipeline_run_id
HAVING ${having}
ORDER BY run_start DESC, run_id DESC
LIMIT {limit:UInt32}
