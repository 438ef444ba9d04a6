"""``create_schema: false`` on a table the contrib exporter created: writes and the whole
history contract work without tasklogs' materialized columns (map lookups instead)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import clickhouse_connect
import pytest

from collector_service.errors import StoreError
from tasklogs_clickhouse import ClickHouseConfig, ClickHouseExporter
from tests.stores._world import world_batches
from tests.stores.test_contract import QUERIES, check

#: The contrib exporter's logs DDL (current version, EventName included), its sort key.
CONTRIB_DDL = """
CREATE TABLE {table} (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TimestampTime DateTime DEFAULT toDateTime(Timestamp),
    TraceId String CODEC(ZSTD(1)), SpanId String CODEC(ZSTD(1)), TraceFlags UInt8,
    SeverityText LowCardinality(String) CODEC(ZSTD(1)), SeverityNumber UInt8,
    ServiceName LowCardinality(String) CODEC(ZSTD(1)), Body String CODEC(ZSTD(1)),
    ResourceSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeSchemaUrl LowCardinality(String) CODEC(ZSTD(1)), ScopeName String CODEC(ZSTD(1)),
    ScopeVersion LowCardinality(String) CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    LogAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    EventName String CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
) ENGINE = MergeTree
PARTITION BY toDate(TimestampTime)
PRIMARY KEY (ServiceName, TimestampTime)
ORDER BY (ServiceName, TimestampTime, Timestamp)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1
"""


@pytest.fixture(scope="module")
def contrib_store(clickhouse_dsn: str) -> Iterator[ClickHouseExporter]:
    database = f"k_{uuid.uuid4().hex[:12]}"
    client = clickhouse_connect.get_client(dsn=clickhouse_dsn)
    try:
        client.command(f"CREATE DATABASE `{database}`")
        client.command(CONTRIB_DDL.format(table=f"`{database}`.`otel_logs`"))
        config = ClickHouseConfig(database=database, create_schema=False)
        with ClickHouseExporter(config, clickhouse_dsn) as store:
            for batch in world_batches():
                store.push(batch)
            yield store
    finally:
        client.command(f"DROP DATABASE IF EXISTS `{database}`")
        client.close()


@pytest.mark.parametrize("name", QUERIES)
def test_history_contract_on_a_contrib_table(contrib_store: ClickHouseExporter, name: str) -> None:
    check(contrib_store, QUERIES[name])


def test_retention_report_on_a_contrib_table(contrib_store: ClickHouseExporter) -> None:
    report = contrib_store.retention_report()
    assert sum(p.rows for p in report.partitions) == 100


def test_create_schema_false_never_creates_anything(clickhouse_dsn: str, database: str) -> None:
    config = ClickHouseConfig(database=database, create_schema=False)
    with pytest.raises(StoreError, match=f"Database {database} does not exist"):
        ClickHouseExporter(config, clickhouse_dsn).start()
