-- Oldest and newest row per partition, to the nanosecond (system.parts only knows the
-- partition key's seconds).
SELECT _partition_id, toUnixTimestamp64Nano(min(Timestamp)), toUnixTimestamp64Nano(max(Timestamp))
FROM ${table}
GROUP BY _partition_id
