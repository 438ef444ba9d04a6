-- Indexes on the partitioned table: PostgreSQL creates them on every partition, present
-- and future.
-- One task run's history in its order (seq, then time); the cursor is a row comparison.
CREATE INDEX IF NOT EXISTS "${table}_task_run_idx"
    ON "${schema}"."${table}" ("TaskRunId", "Seq", "TimestampNs");
-- A pipeline run's history in time order (task run id and seq break ties).
CREATE INDEX IF NOT EXISTS "${table}_pipeline_run_idx"
    ON "${schema}"."${table}" ("PipelineRunId", "TimestampNs", "TaskRunId", "Seq");
-- Time ranges: rows arrive roughly in time order, so a BRIN index is tiny and enough
-- (partition pruning already narrows a range to its days).
CREATE INDEX IF NOT EXISTS "${table}_time_brin"
    ON "${schema}"."${table}" USING brin ("Timestamp");
-- Severity: "warnings and errors in this time range", across tasks.
CREATE INDEX IF NOT EXISTS "${table}_severity_idx"
    ON "${schema}"."${table}" ("SeverityNumber", "Timestamp");
-- Attribute lookups by key=value (@> containment). jsonb_path_ops indexes one hash per
-- key/value pair: much cheaper to maintain under COPY than the default jsonb_ops (which
-- also serves key-existence `?`, a lookup the history contract never makes).
CREATE INDEX IF NOT EXISTS "${table}_log_attributes_gin"
    ON "${schema}"."${table}" USING gin ("LogAttributes" jsonb_path_ops);
CREATE INDEX IF NOT EXISTS "${table}_resource_attributes_gin"
    ON "${schema}"."${table}" USING gin ("ResourceAttributes" jsonb_path_ops);
