-- What the runs index gets from rows of the log table: the select of the materialized
-- view (create_task_runs_mv.sql), and of the one-off backfill of rows written before it.
SELECT
    ${task_run} AS TaskRunId,
    argMinState(ResourceAttributes['tasklogs.tenant'], now64(9)) AS Tenant,
    any(${pipeline_run}) AS PipelineRunId,
    max(ResourceAttributes['cicd.pipeline.name']) AS PipelineName,
    max(ResourceAttributes['cicd.pipeline.task.name']) AS TaskName,
    max(ServiceName) AS ServiceName,
    max(toUInt32OrZero(ResourceAttributes['tasklogs.attempt'])) AS Attempt,
    min(Timestamp) AS FirstTs,
    max(Timestamp) AS LastTs,
    count() AS Lines,
    countIf(SeverityNumber >= 17 OR LogAttributes['log.iostream'] = 'stderr') AS Errors,
    min(if(SeverityNumber >= 17 OR LogAttributes['log.iostream'] = 'stderr',
           ${seq}, toUInt64(18446744073709551615))) AS FirstErrorSeq,
    max(${seq}) AS MaxSeq,
    max(if(${event_name} = 'tasklogs.task.end', Timestamp, toDateTime64(0, 9))) AS EndTs,
    argMaxState(
        if(${event_name} = 'tasklogs.task.end',
           LogAttributes['cicd.pipeline.task.run.result'], ''),
        if(${event_name} = 'tasklogs.task.end', Timestamp, toDateTime64(0, 9))) AS Result,
    argMaxState(
        if(${event_name} = 'tasklogs.task.end', LogAttributes['process.exit.code'], ''),
        if(${event_name} = 'tasklogs.task.end', Timestamp, toDateTime64(0, 9))) AS ExitCode
FROM ${source}
WHERE ${task_run} != ''
GROUP BY TaskRunId
