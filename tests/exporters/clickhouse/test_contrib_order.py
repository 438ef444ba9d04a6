"""The total read order on a contrib-created table (no ``LineId``): the tie-breaker is a
hash of the row's content, and copies of a ``(task run id, seq)`` still read once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import clickhouse_connect
import pytest

from collector_service.component.store import HistoryQuery
from tasklogs_clickhouse import ClickHouseConfig, ClickHouseExporter
from tests.exporters.clickhouse.test_contrib_table import contrib_ddl
from tests.stores.test_order import backward, forward, lines


@pytest.fixture
def contrib_empty(clickhouse_dsn: str) -> Iterator[ClickHouseExporter]:
    database = f"k_{uuid.uuid4().hex[:12]}"
    client = clickhouse_connect.get_client(dsn=clickhouse_dsn)
    try:
        client.command(f"CREATE DATABASE `{database}`")
        client.command(contrib_ddl("v0.150", database))
        config = ClickHouseConfig(database=database, create_schema=False)
        with ClickHouseExporter(config, clickhouse_dsn) as store:
            yield store
    finally:
        client.command(f"DROP DATABASE IF EXISTS `{database}`")
        client.close()


def test_12000_lines_with_one_timestamp_on_a_contrib_table(
    contrib_empty: ClickHouseExporter,
) -> None:
    for k in range(3):
        contrib_empty.push(lines("t-same", 4000, start=k * 4000))
    q = HistoryQuery(task_run_id="t-same", limit=1000)
    got = forward(contrib_empty, q)
    assert len(got) == 12_000
    assert len(set(got)) == 12_000
    assert backward(contrib_empty, q) == got
    assert contrib_empty.count(q) == 12_000
    assert len(forward(contrib_empty, HistoryQuery(pipeline_run_id="run-o", limit=777))) == 12_000


def test_resent_lines_read_once_on_a_contrib_table(contrib_empty: ClickHouseExporter) -> None:
    contrib_empty.push(lines("t-dup", 100, seq=True, ts=None, token="a"))
    contrib_empty.push(lines("t-dup", 100, seq=True, ts=None, token="b"))
    want = [f"t-dup line {i}" for i in range(100)]
    assert forward(contrib_empty, HistoryQuery(task_run_id="t-dup", limit=7)) == want
    assert backward(contrib_empty, HistoryQuery(task_run_id="t-dup", limit=7)) == want
    assert contrib_empty.count(HistoryQuery(pipeline_run_id="run-o")) == 100
