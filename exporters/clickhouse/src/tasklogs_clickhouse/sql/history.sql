-- One page of history (collector_service/store.py). The WHERE and ORDER BY parts are
-- composed by exporters/clickhouse/_history.py from fixed fragments and column
-- expressions (columns, or on a contrib-created table the map lookups they materialize);
-- every value is a bound query parameter. LIMIT BY (${limit_by}) keeps one copy of each
-- (task run, seq > 0): a batch stored twice under two dedup tokens reads back once; a
-- task's newest lines are read without it first (_history.build, ``plain``).
SELECT
    toUnixTimestamp64Nano(Timestamp) AS ts_ns,
    ${seq} AS seq,
    ${task_run} AS task_run,
    SeverityText,
    SeverityNumber,
    Body,
    ServiceName,
    TraceId,
    SpanId,
    ${event_name} AS event_name,
    ScopeName,
    ResourceAttributes,
    LogAttributes,
    ${line_id} AS line_id,
    TraceFlags,
    ScopeVersion,
    ScopeAttributes,
    ResourceSchemaUrl,
    ScopeSchemaUrl,
    ${observed} AS observed_ns,
    ${dropped} AS dropped_attributes
FROM ${table}
WHERE ${where}
ORDER BY ${order}
${limit_by}
LIMIT {limit:UInt32}
