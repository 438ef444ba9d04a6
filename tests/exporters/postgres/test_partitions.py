"""Daily partitions: created ahead and on demand, and retention by dropping them."""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg
from psycopg import sql

from collector_service.component.store import HistoryQuery
from tasklogs_postgres import PostgresConfig, PostgresExporter
from tests.exporters.postgres._batches import DAY_NS, batch_at

# 2026-11-18T00:00:00Z, a day boundary.
MIDNIGHT_NS = 1_795_000_000_000_000_000 // DAY_NS * DAY_NS


def _partition_of_each_row(dsn: str, schema: str) -> dict[int, str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            sql.SQL('SELECT "TimestampNs", tableoid::regclass::text FROM {}').format(
                sql.Identifier(schema, "otel_logs")
            )
        ).fetchall()
    return {int(ts): str(part).split(".")[-1] for ts, part in rows}


def _partitions(store: PostgresExporter) -> list[str]:
    return [p.partition for p in store.retention_report().partitions]


def test_rows_land_in_the_partition_of_their_day_across_midnight(
    make_config: Callable[..., PostgresConfig], pg_dsn: str, pg_schema: str
) -> None:
    before, at, after = MIDNIGHT_NS - 1, MIDNIGHT_NS, MIDNIGHT_NS + 1
    clock = MIDNIGHT_NS + 30 * DAY_NS  # "today" is far away: these are on-demand partitions
    with PostgresExporter(make_config(partitions_ahead=0), clock=lambda: clock) as store:
        store.push(batch_at([before, at, after]))
        assert _partition_of_each_row(pg_dsn, pg_schema) == {
            before: "otel_logs_p20261117",
            at: "otel_logs_p20261118",
            after: "otel_logs_p20261118",
        }
        assert _partitions(store) == [
            "otel_logs_p20261117",
            "otel_logs_p20261118",
            "otel_logs_p20261218",
        ]
        # The nanoseconds survive exactly, also where microseconds would round.
        page = store.query(HistoryQuery(task_run_id="tr-1"))
        assert [r.timestamp_ns for r in page.records] == [before, at, after]


def test_maintenance_creates_partitions_ahead_across_a_day_boundary(
    make_config: Callable[..., PostgresConfig],
) -> None:
    now = [MIDNIGHT_NS - 60 * 1_000_000_000]  # 23:59 on 2026-11-17
    with PostgresExporter(make_config(partitions_ahead=2), clock=lambda: now[0]) as store:
        assert _partitions(store) == [
            "otel_logs_p20261117",
            "otel_logs_p20261118",
            "otel_logs_p20261119",
        ]
        now[0] += 2 * 60 * 1_000_000_000  # 00:01 on 2026-11-18
        store.run_maintenance()
        assert _partitions(store)[-1] == "otel_logs_p20261120"
        assert len(_partitions(store)) == 4


def test_retention_drops_exactly_the_expired_partitions(
    make_config: Callable[..., PostgresConfig],
) -> None:
    now = MIDNIGHT_NS + 12 * 3600 * 1_000_000_000  # 2026-11-18 12:00
    config = make_config(ttl="3d", partitions_ahead=1)
    with PostgresExporter(config, clock=lambda: now) as store:
        # Two rows on each of the ten days before today, and today.
        days = range(-10, 1)
        store.push(
            batch_at([MIDNIGHT_NS + d * DAY_NS + h * 3600 * 10**9 for d in days for h in (1, 2)])
        )
        # now - ttl = 2026-11-15 12:00: days up to 11-14 are wholly expired; 11-15 is not.
        dropped = store.run_maintenance()
        assert [d.partition for d in dropped] == [
            f"otel_logs_p202611{day:02d}" for day in range(8, 15)
        ]
        assert all(d.rows == 2 for d in dropped)
        report = store.retention_report()
        assert [p.partition for p in report.partitions] == [
            f"otel_logs_p202611{day:02d}" for day in range(15, 20)
        ]
        assert [p.rows for p in report.partitions] == [2, 2, 2, 2, 0]
        assert report.oldest_ns == MIDNIGHT_NS - 3 * DAY_NS + 3600 * 10**9
        assert report.ttl_seconds == 3 * 86_400
        # The retention log says what went and when, newest first.
        assert sorted(str(d["partition"]) for d in report.dropped) == [d.partition for d in dropped]
        assert all(d["rows"] == 2 and d["table"] == "otel_logs" for d in report.dropped)
        assert all(
            abs(int(d["dropped_at_ns"]) - time.time_ns()) < 600 * 10**9 for d in report.dropped
        )
        # The surviving rows are all there; a second run drops nothing more.
        assert len(store.query(HistoryQuery(task_run_id="tr-1")).records) == 8
        assert store.run_maintenance() == []


def test_ttl_none_keeps_everything(make_config: Callable[..., PostgresConfig]) -> None:
    now = MIDNIGHT_NS + 400 * DAY_NS
    with PostgresExporter(make_config(ttl="none"), clock=lambda: now) as store:
        store.push(batch_at([MIDNIGHT_NS]))
        assert store.run_maintenance() == []
        assert store.retention_report().dropped == []


def test_the_default_ttl_keeps_seven_days(pg_dsn: str, pg_schema: str) -> None:
    now = MIDNIGHT_NS + 10 * DAY_NS
    config = PostgresConfig.model_validate({"dsn": pg_dsn, "schema": pg_schema})
    with PostgresExporter(config, clock=lambda: now) as store:
        store.push(batch_at([MIDNIGHT_NS, now - DAY_NS]))
        dropped = store.run_maintenance()
        # Every day before now - 7d goes (the empty ones created ahead at start too).
        assert "otel_logs_p20261118" in [d.partition for d in dropped]
        assert all(d.partition < "otel_logs_p20261121" for d in dropped)
        assert "otel_logs_p20261127" in _partitions(store)  # yesterday's row kept
        assert store.retention_report().ttl_seconds == 7 * 86_400


def test_the_maintenance_thread_applies_retention_on_its_schedule(
    make_config: Callable[..., PostgresConfig],
) -> None:
    now = [MIDNIGHT_NS]
    config = make_config(ttl="1d", maintenance_interval="50ms")
    with PostgresExporter(config, clock=lambda: now[0]) as store:
        store.push(batch_at([MIDNIGHT_NS + 1]))
        now[0] += 5 * DAY_NS  # time passes; no one calls run_maintenance()
        deadline = time.monotonic() + 20
        # Expired partitions are dropped one transaction each: wait for the one we wrote.
        while "otel_logs_p20261118" not in {
            d["partition"] for d in store.retention_report().dropped
        }:
            assert time.monotonic() < deadline, "the maintenance thread never dropped it"
            time.sleep(0.05)
        assert store.query(HistoryQuery(task_run_id="tr-1")).records == []


def test_a_late_row_for_a_dropped_day_is_written_again(
    make_config: Callable[..., PostgresConfig],
) -> None:
    now = MIDNIGHT_NS + 10 * DAY_NS
    with PostgresExporter(make_config(ttl="1d"), clock=lambda: now) as store:
        store.push(batch_at([MIDNIGHT_NS]))
        assert [d.partition for d in store.run_maintenance()] == ["otel_logs_p20261118"]
        store.push(batch_at([MIDNIGHT_NS + 5]))  # partition recreated on demand
        assert [r.timestamp_ns for r in store.query(HistoryQuery(task_run_id="tr-1")).records] == [
            MIDNIGHT_NS + 5
        ]
