-- One page of pipeline runs, newest first by the start of their first task run, from the
-- runs index only. NULL parameters are filters not asked for; %(text)s is an ILIKE
-- pattern (escaped by the caller).
WITH runs AS (
    SELECT pipeline_run_id AS run_id, max(pipeline_name) AS pipeline_name,
           min(first_ns) AS start_ns
    FROM "${schema}"."${table}_task_runs"
    WHERE pipeline_run_id <> ''
      AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s::text)
    GROUP BY pipeline_run_id
    HAVING (%(pipeline)s::text IS NULL OR max(pipeline_name) = %(pipeline)s::text)
       AND (%(since)s::bigint IS NULL OR min(first_ns) >= %(since)s::bigint)
       AND (%(until)s::bigint IS NULL OR min(first_ns) < %(until)s::bigint)
       AND (%(after_start)s::bigint IS NULL
            OR (min(first_ns), pipeline_run_id) < (%(after_start)s::bigint, %(after_run)s::text))
       AND (%(text)s::text IS NULL
            OR max(pipeline_name) ILIKE %(text)s::text
            OR pipeline_run_id ILIKE %(text)s::text
            OR bool_or(task_name ILIKE %(text)s::text))
    ORDER BY start_ns DESC, run_id DESC
    LIMIT %(limit)s
)
SELECT r.run_id, r.pipeline_name, r.start_ns,
       t.task_run_id, t.pipeline_run_id, t.tenant, t.pipeline_name, t.task_name,
       t.service_name, t.attempt, t.first_ns, t.last_ns, t.line_count, t.error_count,
       t.first_error_seq, t.max_seq, t.result, t.exit_code, t.end_ns
FROM runs r
JOIN "${schema}"."${table}_task_runs" t ON t.pipeline_run_id = r.run_id
WHERE (%(tenant)s::text IS NULL OR t.tenant = %(tenant)s::text)
ORDER BY r.start_ns DESC, r.run_id DESC, t.first_ns, t.task_run_id
