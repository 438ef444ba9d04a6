-- What the OTel log data model has and the contrib ClickHouse table drops: when a record
-- was observed (nanoseconds since the epoch, 0 when the producer sent none) and how many
-- attributes the producer dropped from the record, its resource and its scope. Added in
-- place on the partitioned table (every partition, present and future, gets them); rows
-- written before read 0.
ALTER TABLE "${schema}"."${table}"
    ADD COLUMN IF NOT EXISTS "ObservedTimestampNs" bigint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS "DroppedAttributesCount" bigint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS "ResourceDroppedAttributesCount" bigint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS "ScopeDroppedAttributesCount" bigint NOT NULL DEFAULT 0;
