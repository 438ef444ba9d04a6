-- The log table, range-partitioned by day on "Timestamp" (the partitions are created by
-- the exporter ahead of time), plus the batch ledger (idempotent writes) and the
-- retention log (what retention dropped, and when).
--
-- Column names follow the OpenTelemetry Collector contrib ClickHouse exporter's otel_logs
-- table. "Timestamp" holds microseconds (timestamptz); "TimestampNs" keeps the original
-- nanoseconds exactly, for ordering and cursors. The task-identity columns are generated
-- from the attributes, like ClickHouse's MATERIALIZED columns, so any writer gets them.
CREATE TABLE IF NOT EXISTS "${schema}"."${table}" (
    "Timestamp" timestamptz NOT NULL,
    "TimestampNs" bigint NOT NULL,
    "TraceId" text NOT NULL DEFAULT '',
    "SpanId" text NOT NULL DEFAULT '',
    "TraceFlags" smallint NOT NULL DEFAULT 0,
    "SeverityText" text NOT NULL DEFAULT '',
    "SeverityNumber" smallint NOT NULL DEFAULT 0,
    "ServiceName" text NOT NULL DEFAULT '',
    "Body" text NOT NULL DEFAULT '',
    "ResourceSchemaUrl" text NOT NULL DEFAULT '',
    "ResourceAttributes" jsonb NOT NULL DEFAULT '{}',
    "ScopeSchemaUrl" text NOT NULL DEFAULT '',
    "ScopeName" text NOT NULL DEFAULT '',
    "ScopeVersion" text NOT NULL DEFAULT '',
    "ScopeAttributes" jsonb NOT NULL DEFAULT '{}',
    "LogAttributes" jsonb NOT NULL DEFAULT '{}',
    "EventName" text NOT NULL DEFAULT '',
    "PipelineRunId" text COLLATE "C" GENERATED ALWAYS AS
        (COALESCE("ResourceAttributes" ->> 'cicd.pipeline.run.id', '')) STORED,
    "TaskRunId" text COLLATE "C" GENERATED ALWAYS AS
        (COALESCE("ResourceAttributes" ->> 'cicd.pipeline.task.run.id', '')) STORED,
    "TaskName" text GENERATED ALWAYS AS
        (COALESCE("ResourceAttributes" ->> 'cicd.pipeline.task.name', '')) STORED,
    "Tenant" text GENERATED ALWAYS AS
        (COALESCE("ResourceAttributes" ->> 'tasklogs.tenant', '')) STORED,
    -- ClickHouse's toUInt64OrZero(LogAttributes['tasklogs.seq']): digits, else 0.
    "Seq" bigint GENERATED ALWAYS AS (
        CASE WHEN ("LogAttributes" ->> 'tasklogs.seq') ~ '^[0-9]+$$'
              AND length("LogAttributes" ->> 'tasklogs.seq') <= 18
             THEN ("LogAttributes" ->> 'tasklogs.seq')::bigint
             ELSE 0 END) STORED
) PARTITION BY RANGE ("Timestamp");

-- One row per stored batch token, written in the same transaction as the batch's COPY:
-- a replayed batch finds its token and is skipped. Pruned after `dedup_window`.
CREATE TABLE IF NOT EXISTS "${schema}"."${table}_batches" (
    token text PRIMARY KEY,
    rows integer NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS "${table}_batches_written_at_idx"
    ON "${schema}"."${table}_batches" (written_at);

-- What retention dropped: one row per dropped partition.
CREATE TABLE IF NOT EXISTS "${schema}"."${table}_retention" (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    partition_name text NOT NULL,
    table_name text NOT NULL,
    rows bigint NOT NULL,
    min_timestamp_ns bigint,
    max_timestamp_ns bigint,
    dropped_at timestamptz NOT NULL DEFAULT now()
);
