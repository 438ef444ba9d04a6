-- Add one batch's per-task-run aggregates (parallel arrays, the owners' records only) to
-- the runs index, in the transaction of the batch's COPY.
UPDATE "${schema}"."${table}_task_runs" AS t SET
    pipeline_run_id = CASE WHEN t.pipeline_run_id = '' THEN d.pipeline_run_id
                           ELSE t.pipeline_run_id END,
    pipeline_name = GREATEST(t.pipeline_name, d.pipeline_name),
    task_name = GREATEST(t.task_name, d.task_name),
    service_name = GREATEST(t.service_name, d.service_name),
    attempt = GREATEST(t.attempt, d.attempt),
    first_ns = LEAST(t.first_ns, d.first_ns),
    last_ns = GREATEST(t.last_ns, d.last_ns),
    line_count = t.line_count + d.line_count,
    error_count = t.error_count + d.error_count,
    first_error_seq = LEAST(t.first_error_seq, d.first_error_seq),
    max_seq = GREATEST(t.max_seq, d.max_seq),
    result = CASE WHEN d.end_ns IS NOT NULL AND (t.end_ns IS NULL OR d.end_ns >= t.end_ns)
                  THEN d.result ELSE t.result END,
    exit_code = CASE WHEN d.end_ns IS NOT NULL AND (t.end_ns IS NULL OR d.end_ns >= t.end_ns)
                     THEN d.exit_code ELSE t.exit_code END,
    end_ns = GREATEST(t.end_ns, d.end_ns)
FROM unnest(
    %(ids)s::text[], %(runs)s::text[], %(pipelines)s::text[], %(names)s::text[],
    %(services)s::text[], %(attempts)s::integer[], %(firsts)s::bigint[],
    %(lasts)s::bigint[], %(lines)s::bigint[], %(errors)s::bigint[],
    %(first_errors)s::bigint[], %(max_seqs)s::bigint[], %(results)s::text[],
    %(exit_codes)s::bigint[], %(ends)s::bigint[]
) AS d(task_run_id, pipeline_run_id, pipeline_name, task_name, service_name, attempt,
       first_ns, last_ns, line_count, error_count, first_error_seq, max_seq, result,
       exit_code, end_ns)
WHERE t.task_run_id = d.task_run_id
