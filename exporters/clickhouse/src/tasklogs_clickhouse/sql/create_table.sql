-- The otel_logs table of the OpenTelemetry Collector contrib ClickHouse exporter, as
-- contrib v0.151+ creates it (same column names, types and codecs; the eight
-- __otel_materialized_* columns; PARTITION BY toDate(Timestamp); TTL on Timestamp), so
-- Grafana's ClickHouse datasource, HyperDX and queries written for either contrib
-- generation work. Writing into a table that contrib v0.10x-v0.150 or v0.151+ created
-- works too (create_schema: false). Differences, each for a reason:
-- * TimestampTime is kept, as an ALIAS of toDateTime(Timestamp) (no storage): Grafana's
--   datasource (<= 4.20, grafana/clickhouse-datasource#2103) filters and sorts on
--   TimestampTime whenever the column exists; as an alias its range filter becomes one on
--   Timestamp, which the partition key, the Timestamp min-max index and the sort key serve
--   (tests/exporters/clickhouse/test_grafana_time_filter.py shows the granules read).
-- * Materialized task identity columns and the sort key (TaskRunId, Seq, Timestamp, LineId): a
--   task run, in tasklogs.seq order, is one contiguous range (its first page reads a few
--   granules); a time range across tasks is served by partitions and idx_timestamp.
-- * LineId, a unique tie-breaker last in the sort key, makes the read order total.
-- * What the contrib table drops: ObservedTimestamp and the dropped-attribute counts.
CREATE TABLE IF NOT EXISTS ${table} ${on_cluster}
(
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TimestampTime DateTime ALIAS toDateTime(Timestamp),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    TraceFlags UInt8,
    SeverityText LowCardinality(String) CODEC(ZSTD(1)),
    SeverityNumber UInt8,
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    Body String CODEC(ZSTD(1)),
    ResourceSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion LowCardinality(String) CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    LogAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    EventName String CODEC(ZSTD(1)),
${materialized_resource}
    PipelineRunId String MATERIALIZED ResourceAttributes['cicd.pipeline.run.id'] CODEC(ZSTD(1)),
    TaskRunId String MATERIALIZED ResourceAttributes['cicd.pipeline.task.run.id'] CODEC(ZSTD(1)),
    Seq UInt64 MATERIALIZED toUInt64OrZero(LogAttributes['tasklogs.seq']) CODEC(Delta(8), ZSTD(1)),
    -- The tie-breaker of the total read order: the exporter writes it from the batch's
    -- dedup token and the line's index; other writers get a hash of the row's content.
    LineId UInt64 DEFAULT intDiv(cityHash64(Timestamp, TraceId, SpanId, Body, ResourceAttributes, LogAttributes), 2) CODEC(ZSTD(1)),
${added_columns}
    INDEX idx_timestamp Timestamp TYPE minmax GRANULARITY 1,
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_pipeline_run PipelineRunId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_value mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1${body_index}${projection}
)
ENGINE = ${engine}
PARTITION BY toDate(Timestamp)
ORDER BY (TaskRunId, Seq, Timestamp, LineId)
${ttl}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1${settings}
