"""Writes at volume, deduplication of replayed batches, TTL expiry and the retention report."""

from __future__ import annotations

import time

from collector_service.component.model import LogBatch
from collector_service.component.store import HistoryQuery
from tasklogs_clickhouse import ClickHouseConfig, ClickHouseExporter
from tests.exporters.clickhouse.test_exporter import BASE_NS, batch_for, read_all

DAY_NS = 86_400 * 10**9


def _count(store: ClickHouseExporter, task_run_id: str | None = None) -> int:
    where = "" if task_run_id is None else " WHERE TaskRunId = {t:String}"
    rows = (
        store._require_client()
        .query(f"SELECT count() FROM {store.schema.table}{where}", parameters={"t": task_run_id})
        .result_rows
    )
    return int(rows[0][0])


def test_100k_rows_written_and_read_back_exactly(store: ClickHouseExporter) -> None:
    n = 100_000
    batch = batch_for("tr-big", n)
    for i in range(0, n, 7):
        batch.body[i] = f"line {i + 1} with 'quotes', \\backslash, tab\t, ✓ and 日本語"
        batch.severity_number[i], batch.severity_text[i] = 17, "ERROR"
        batch.log_attributes[i] = {"tasklogs.seq": str(i + 1), "k": f"v{i}"}
    # Two inserts, the second first: the store orders by content, not arrival.
    half = n // 2
    second, first = LogBatch(), LogBatch()
    cols = batch.columns()
    for target, lo, hi in ((first, 0, half), (second, half, n)):
        for src, dst in zip(cols, target.columns(), strict=True):
            dst.extend(src[lo:hi])
    store.push(second)
    store.push(first)
    got = []
    after = None
    while True:
        page = store.query(HistoryQuery(task_run_id="tr-big", after=after, limit=10_000))
        got.extend(page.records)
        if page.next_cursor is None:
            break
        after = page.next_cursor
    assert len(got) == n
    for i, rec in enumerate(got):
        assert rec.seq == i + 1
        assert rec.timestamp_ns == batch.timestamp[i]
        assert rec.body == batch.body[i]
        assert rec.severity_number == batch.severity_number[i]
        assert rec.severity_text == batch.severity_text[i]
        assert rec.log_attributes == batch.log_attributes[i]
        assert rec.resource_attributes == batch.resource_attributes[i]


def test_a_batch_replayed_with_its_token_is_stored_once(store: ClickHouseExporter) -> None:
    batch = batch_for("tr-d", 100)
    batch.token = "ingest:1-0:5-0"
    store.push(batch)
    store.push(batch)  # the writer crashed before XACK; another one replays the entry
    assert read_all(store, "tr-d") == list(range(1, 101))
    again = batch_for("tr-d", 100)
    again.token = "ingest:6-0:9-0"  # equal rows, another token: another batch
    store.push(again)
    assert _count(store, "tr-d") == 200


def test_batches_without_a_token_are_never_deduplicated(store: ClickHouseExporter) -> None:
    store.push(batch_for("tr-n", 10))
    store.push(batch_for("tr-n", 10))  # identical content, but not a replay
    assert _count(store, "tr-n") == 20


def test_a_replayed_batch_spanning_days_is_stored_once(store: ClickHouseExporter) -> None:
    # One insert becomes one part per daily partition; each must be deduplicated.
    batch = batch_for("tr-days", 30)
    batch.timestamp[:] = [BASE_NS + (i % 3) * DAY_NS + i for i in range(30)]
    batch.token = "ingest:days"
    for _ in range(3):
        store.push(batch)
    assert _count(store, "tr-days") == 30


def test_rows_past_the_ttl_disappear(clickhouse_dsn: str, database: str) -> None:
    config = ClickHouseConfig.model_validate({"database": database, "ttl": "2s"})
    with ClickHouseExporter(config, clickhouse_dsn) as store:
        expiring = batch_for("tr-expiring", 20)
        expiring.timestamp[:] = [time.time_ns() + i for i in range(20)]
        store.push(expiring)
        assert _count(store, "tr-expiring") == 20
        before = store.retention_report()
        assert sum(p.rows for p in before.partitions) == 20
        assert before.ttl_seconds == 2
        # TimestampTime has whole seconds: past the TTL once 3 s have passed.
        deadline = time.monotonic() + 30
        time.sleep(3.1)
        fresh = batch_for("tr-fresh", 5)
        fresh.timestamp[:] = [time.time_ns() + i for i in range(5)]
        store.push(fresh)
        while _count(store, "tr-expiring") and time.monotonic() < deadline:
            # Force the TTL merge rather than wait for ClickHouse's background schedule.
            store._require_client().command(f"OPTIMIZE TABLE {store.schema.table} FINAL")
            time.sleep(0.2)
        assert _count(store, "tr-expiring") == 0
        assert read_all(store, "tr-fresh") == [1, 2, 3, 4, 5]
        after = store.retention_report()
        assert sum(p.rows for p in after.partitions) == 5
        assert after.oldest_ns == fresh.timestamp[0]


def test_rows_already_past_the_ttl_are_not_kept(clickhouse_dsn: str, database: str) -> None:
    config = ClickHouseConfig.model_validate({"database": database, "ttl": "24h"})
    with ClickHouseExporter(config, clickhouse_dsn) as store:
        old = batch_for("tr-old", 10)
        old.timestamp[:] = [time.time_ns() - 3 * DAY_NS + i for i in range(10)]
        store.push(old)
        store._require_client().command(f"OPTIMIZE TABLE {store.schema.table} FINAL")
        assert _count(store, "tr-old") == 0


def test_retention_report_lists_partitions_rows_bytes_and_oldest(store: ClickHouseExporter) -> None:
    batch = batch_for("tr-r", 30)
    batch.timestamp[:] = [BASE_NS + (i % 3) * DAY_NS + i for i in range(30)]
    store.push(batch)
    report = store.retention_report()
    assert report.ttl_seconds is None
    assert store.config.database in report.store
    days = sorted(p.partition for p in report.partitions)
    assert len(days) == 3
    assert days[0] == "2026-11-18"
    assert sum(p.rows for p in report.partitions) == 30
    assert all(p.table == "otel_logs" and p.bytes_on_disk > 0 for p in report.partitions)
    assert report.oldest_ns == min(batch.timestamp)
    by_day = {p.partition: p for p in report.partitions}
    assert by_day["2026-11-18"].min_timestamp_ns == BASE_NS
    assert by_day["2026-11-20"].max_timestamp_ns == BASE_NS + 2 * DAY_NS + 29


def test_retention_report_of_an_empty_store(store: ClickHouseExporter) -> None:
    report = store.retention_report()
    assert report.partitions == []
    assert report.oldest_ns is None
