-- The runs index: one row per task run (after merges), kept by the materialized view
-- create_task_runs_mv.sql as the log table is written, so a runs page never scans the
-- log table. The tenant is the first writer's (argMin by insert time): it owns the task
-- run for good. First/last line, line and error-line counts (SeverityNumber >= 17 or
-- log.iostream = stderr), first error seq, max seq, and the tasklogs.task.end record's
-- result and exit code (argMax by its timestamp; '' while there is none). A replayed
-- batch is deduplicated here as in the log table (deduplicate_blocks_in_dependent_
-- materialized_views on the insert, and the same deduplication window).
CREATE TABLE IF NOT EXISTS ${table} ${on_cluster}
(
    TaskRunId String,
    Tenant AggregateFunction(argMin, String, DateTime64(9)),
    PipelineRunId SimpleAggregateFunction(any, String),
    PipelineName SimpleAggregateFunction(max, String),
    TaskName SimpleAggregateFunction(max, String),
    ServiceName SimpleAggregateFunction(max, String),
    Attempt SimpleAggregateFunction(max, UInt32),
    FirstTs SimpleAggregateFunction(min, DateTime64(9)),
    LastTs SimpleAggregateFunction(max, DateTime64(9)),
    Lines SimpleAggregateFunction(sum, UInt64),
    Errors SimpleAggregateFunction(sum, UInt64),
    FirstErrorSeq SimpleAggregateFunction(min, UInt64),
    MaxSeq SimpleAggregateFunction(max, UInt64),
    EndTs SimpleAggregateFunction(max, DateTime64(9)),
    Result AggregateFunction(argMax, String, DateTime64(9)),
    ExitCode AggregateFunction(argMax, String, DateTime64(9))
)
ENGINE = AggregatingMergeTree
ORDER BY TaskRunId
${ttl}
${settings}
