-- Task runs of the runs index, merged to one row each. ${where} narrows the rows before
-- they are merged (task run id: the sort key; pipeline run id); ${having} filters on the
-- merged values (tenant).
SELECT
    TaskRunId AS task_run_id,
    any(PipelineRunId) AS pipeline_run_id,
    argMinMerge(Tenant) AS tenant,
    max(PipelineName) AS pipeline_name,
    max(TaskName) AS task_name,
    max(ServiceName) AS service_name,
    max(Attempt) AS attempt,
    toUnixTimestamp64Nano(min(FirstTs)) AS first_ns,
    toUnixTimestamp64Nano(max(LastTs)) AS last_ns,
    sum(Lines) AS line_count,
    sum(Errors) AS error_count,
    min(FirstErrorSeq) AS first_error_seq,
    max(MaxSeq) AS max_seq,
    argMaxMerge(Result) AS result,
    argMaxMerge(ExitCode) AS exit_code,
    toUnixTimestamp64Nano(max(EndTs)) AS end_ns
FROM ${index}
WHERE ${where}
GROUP BY TaskRunId
HAVING ${having}
