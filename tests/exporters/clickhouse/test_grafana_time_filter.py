"""Grafana's time filter on the tasklogs table reads a narrow range (EXPLAIN indexes=1).

The sort key groups rows by task run (a task's history is one range), so a time range
across task runs is served by the rest of the schema: the daily partitions and the
``Timestamp`` min-max index pick the parts, the ``idx_time`` projection index finds the
rows by binary search, and ``TimestampTime`` (what Grafana's datasource <= 4.20 filters
on, grafana/clickhouse-datasource#2103) is an alias of ``Timestamp``, so its filter is
the same range. The table holds 1.1 M rows (past ``min_table_rows_to_use_projection_index``)
of 550 task runs with random ids in one day: the engine uses a projection index once
the parts it would read hold that many rows.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import clickhouse_connect
import pytest

from tasklogs_clickhouse import ClickHouseConfig, ClickHouseExporter

BASE_S = 1_795_046_400  # 2026-11-19T00:00:00Z
ROWS = 1_100_000
LINES_PER_TASK = 2_000
#: A ten-minute window in the middle of the data (about 14 lines per second overall).
FROM_S, TO_S = BASE_S + 40_000, BASE_S + 40_600


@pytest.fixture(scope="module")
def filled(clickhouse_dsn: str) -> Iterator[ClickHouseExporter]:
    database = f"g_{uuid.uuid4().hex[:12]}"
    config = ClickHouseConfig(database=database, ttl=None, body_index="none")
    store = ClickHouseExporter(config, clickhouse_dsn)
    store.start()
    try:
        # Task runs one after another, 2,000 lines each, random (UUID) task run ids.
        store._require_client().command(
            f"""
            INSERT INTO {store.schema.table}
                (Timestamp, ServiceName, SeverityText, SeverityNumber, Body,
                 ResourceAttributes, LogAttributes)
            SELECT
                fromUnixTimestamp64Nano(
                    toInt64({BASE_S}) * 1000000000 + toInt64(number) * 70000000),
                concat('svc-', toString(intDiv(number, {LINES_PER_TASK}) % 5)),
                'INFO', 9, concat('line ', toString(number)),
                map('cicd.pipeline.task.run.id',
                    toString(generateUUIDv4(intDiv(number, {LINES_PER_TASK}))),
                    'service.name', concat('svc-', toString(intDiv(number, {LINES_PER_TASK}) % 5))),
                map('tasklogs.seq', toString(number % {LINES_PER_TASK} + 1))
            FROM numbers({ROWS})
            """
        )
        yield store
    finally:
        store.shutdown()
        client = clickhouse_connect.get_client(dsn=clickhouse_dsn)
        client.command(f"DROP DATABASE IF EXISTS `{database}`")
        client.close()


def _explain(store: ClickHouseExporter, sql: str) -> str:
    rows = store._require_client().query(f"EXPLAIN indexes = 1, projections = 1 {sql}")
    return "\n".join(str(r[0]) for r in rows.result_rows)


def _section(plan: str, name: str) -> str:
    """The lines of one index section of an EXPLAIN indexes=1 plan."""
    match = re.search(
        rf"^[\s│]*{name}\n(.*?)(?=^[\s│]*(?:Min-Max|Partition|PrimaryKey|Skip|Ranges|Projections)\b)",
        plan,
        re.S | re.M,
    )
    assert match, f"no {name} section in:\n{plan}"
    return match.group(1)


def _granules(section: str) -> tuple[int, int]:
    found = re.findall(r"Granules: (\d+)/(\d+)", section)
    assert found, section
    read, total = found[-1]
    return int(read), int(total)


def _total_granules(store: ClickHouseExporter) -> int:
    ((marks,),) = (
        store._require_client()
        .query(
            "SELECT sum(marks) FROM system.parts WHERE active AND database = {db:String} "
            "AND table = 'otel_logs'",
            parameters={"db": store.config.database},
        )
        .result_rows
    )
    return int(marks)


def _grafana_query(store: ClickHouseExporter, time_column: str, where: str) -> str:
    """The OTel-mode logs query of Grafana's ClickHouse datasource (#2103), time column
    ``TimestampTime`` (datasource <= 4.20 when the column exists) or ``Timestamp``."""
    lo, hi = (
        (f"toDateTime({FROM_S})", f"toDateTime({TO_S})")
        if time_column == "TimestampTime"
        else (f"toDateTime64({FROM_S}, 9)", f"toDateTime64({TO_S}, 9)")
    )
    return (
        'SELECT Timestamp as "timestamp", Body as "body", SeverityText as "level", '
        'TraceId as "traceID", ResourceAttributes, ScopeAttributes, LogAttributes '
        f"FROM {store.schema.table} "
        f"WHERE ( {time_column} >= {lo} AND {time_column} <= {hi} ) AND ( {where} ) "
        f'ORDER BY ({time_column}, "timestamp") DESC LIMIT 1000'
    )


@pytest.mark.parametrize("time_column", ["TimestampTime", "Timestamp"])
def test_a_time_filter_with_a_service_reads_a_few_granules(
    filled: ClickHouseExporter, time_column: str
) -> None:
    plan = _explain(filled, _grafana_query(filled, time_column, "ServiceName = 'svc-1'"))
    total = _total_granules(filled)
    assert total > 130
    read = re.search(r"Parts: \d+ \| Granules: (\d+)\b", plan)
    if read is not None:  # the optimizer chose a projection: what it reads, in total
        assert int(read.group(1)) <= 4, plan
    else:
        # The parts of the window's day only ...
        assert "Parts: 1/" in _section(plan, "Min-Max")
        # ... and, inside them, the projection index finds the window's rows by binary search.
        projection = plan[plan.index("Projections:") :]
        assert "Name: idx_time" in projection
        assert "Search Algorithm: binary search" in projection
        marks = int(re.search(r"Marks: (\d+)", projection).group(1))  # type: ignore[union-attr]
        assert marks <= 2, plan
    # What the query returns is right, of course.
    rows = filled._require_client().query(
        _grafana_query(filled, time_column, "ServiceName = 'svc-1'")
    )
    assert 0 < len(rows.result_rows) <= 1000


@pytest.mark.parametrize("time_column", ["TimestampTime", "Timestamp"])
def test_a_time_filter_on_one_task_run_reads_its_own_range(
    filled: ClickHouseExporter, time_column: str
) -> None:
    ((task,),) = (
        filled._require_client()
        .query(
            f"SELECT any(TaskRunId) FROM {filled.schema.table} "
            f"WHERE Timestamp >= toDateTime64({FROM_S}, 9) AND Timestamp < toDateTime64({TO_S}, 9)"
        )
        .result_rows
    )
    plan = _explain(filled, _grafana_query(filled, time_column, f"TaskRunId = '{task}'"))
    read, _ = _granules(_section(plan, "PrimaryKey"))
    assert read <= 2, plan
