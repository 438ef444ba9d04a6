-- One page of one task run's history in tasklogs.seq order, after a cursor.
-- ${task_run} and ${seq} are column names or, on a contrib-created table, the map lookups
-- they materialize; every value is a bound query parameter.
SELECT
    toUnixTimestamp64Nano(Timestamp) AS ts_ns,
    ${seq} AS seq,
    SeverityText,
    SeverityNumber,
    Body,
    ServiceName,
    TraceId,
    SpanId,
    ${event_name} AS event_name,
    ScopeName,
    ResourceAttributes,
    LogAttributes
FROM ${table}
WHERE ${task_run} = {task_run_id:String}
  AND ({has_cursor:UInt8} = 0
       OR (${seq}, Timestamp) > ({after_seq:UInt64}, fromUnixTimestamp64Nano({after_ts:Int64})))
ORDER BY seq, Timestamp
LIMIT {limit:UInt32}
