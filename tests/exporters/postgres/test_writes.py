"""Writes: exact round trips, NUL bytes, idempotent replays, partitions vanishing."""

from __future__ import annotations

import random
from collections.abc import Callable

import psycopg
import pytest
from psycopg import sql

from collector_service.component.model import LogBatch
from collector_service.component.store import Cursor, HistoryQuery, StoredLog
from collector_service.errors import PermanentExportError
from tasklogs_postgres import PostgresConfig, PostgresExporter
from tasklogs_postgres._copy import NUL_ESCAPE
from tests.exporters.postgres._batches import BASE_NS, DAY_NS, batch_at

_WORDS = [
    "ascii",
    "ünïcödé",
    "日本語のログ",
    "emoji 🚀✓",
    "Ελληνικά",
    "עברית",
    "e\u0301",
    "tab\there",
]


def _random_batch(n: int, seed: int) -> LogBatch:
    rng = random.Random(seed)  # noqa: S311 - reproducible test data
    b = LogBatch()
    resources = [
        {
            "service.name": f"svc-{i}",
            "cicd.pipeline.run.id": "run-big",
            "cicd.pipeline.task.run.id": f"task-{i}",
            "cicd.pipeline.task.name": f"名前-{i}",
            "host.name": f"hôst-{i}",
        }
        for i in range(4)
    ]
    for seq in range(1, n + 1):
        resource = resources[seq % 4]
        b.timestamp.append(BASE_NS + seq * 1_000 + rng.randrange(1000))  # ns, not us
        b.trace_id.append(f"{rng.getrandbits(128):032x}")
        b.span_id.append(f"{rng.getrandbits(64):016x}")
        b.trace_flags.append(rng.randrange(256))
        b.severity_text.append(rng.choice(["DEBUG", "INFO", "WARN", "ERROR"]))
        b.severity_number.append(rng.randrange(1, 25))
        b.service_name.append(resource["service.name"])
        b.body.append(" ".join(rng.choice(_WORDS) for _ in range(rng.randrange(1, 6))) + f" #{seq}")
        b.resource_schema_url.append("https://opentelemetry.io/schemas/1.26.0")
        b.resource_attributes.append(resource)
        b.scope_schema_url.append("")
        b.scope_name.append("tasklogs.stdout")
        b.scope_version.append("1.0")
        b.scope_attributes.append({"scöpe": "ÿ"} if seq % 7 == 0 else {})
        b.log_attributes.append({"tasklogs.seq": str(seq), "wörd": rng.choice(_WORDS)})
        b.event_name.append("tasklogs.task.end" if seq == n else "")
    return b


def _read_all(store: PostgresExporter, task_run_id: str) -> list[StoredLog]:
    out: list[StoredLog] = []
    after: Cursor | None = None
    while True:
        page = store.query(HistoryQuery(task_run_id=task_run_id, after=after, limit=10_000))
        out.extend(page.records)
        if page.next_cursor is None:
            return out
        after = page.next_cursor


def test_100k_rows_round_trip_exactly_with_non_ascii_text(pg_store: PostgresExporter) -> None:
    batch = _random_batch(100_000, seed=1)
    for part in range(4):  # four COPY batches of 25,000 rows
        chunk = LogBatch()
        for mine, whole in zip(chunk.columns(), batch.columns(), strict=True):
            mine.extend(whole[part * 25_000 : (part + 1) * 25_000])
        pg_store.push(chunk)
    stored: dict[int, StoredLog] = {}
    for task in range(4):
        for rec in _read_all(pg_store, f"task-{task}"):
            stored[rec.seq] = rec
    assert sorted(stored) == list(range(1, 100_001))
    got = [
        (
            r.timestamp_ns,
            r.trace_id,
            r.span_id,
            r.severity_text,
            r.severity_number,
            r.service_name,
            r.body,
            r.scope_name,
            r.resource_attributes,
            r.log_attributes,
            r.event_name,
        )
        for r in (stored[seq] for seq in range(1, 100_001))
    ]
    want = list(
        zip(
            batch.timestamp,
            batch.trace_id,
            batch.span_id,
            batch.severity_text,
            batch.severity_number,
            batch.service_name,
            batch.body,
            batch.scope_name,
            batch.resource_attributes,
            batch.log_attributes,
            batch.event_name,
            strict=True,
        )
    )
    assert got == want


def test_a_nul_byte_is_kept_with_a_visible_escape(pg_store: PostgresExporter) -> None:
    b = batch_at([BASE_NS, BASE_NS + 1], bodies=["before\x00after", "plain"])
    b.log_attributes[0] = {"tasklogs.seq": "1", "k\x00ey": "va\x00lue"}
    b.resource_attributes[0] = {**b.resource_attributes[0], "nul": "\x00"}
    b.service_name[0] = "svc\x00"
    pg_store.push(b)
    first, second = pg_store.query(HistoryQuery(task_run_id="tr-1")).records
    assert NUL_ESCAPE == "\\u0000"
    assert first.body == "before\\u0000after"
    assert first.service_name == "svc\\u0000"
    assert first.log_attributes == {"tasklogs.seq": "1", "k\\u0000ey": "va\\u0000lue"}
    assert first.resource_attributes["nul"] == "\\u0000"
    assert second.body == "plain"
    # Filters given a NUL find the escaped text.
    found = pg_store.query(HistoryQuery(task_run_id="tr-1", text="e\x00a"))
    assert [r.seq for r in found.records] == [1]
    found = pg_store.query(HistoryQuery(task_run_id="tr-1", attributes={"k\x00ey": "va\x00lue"}))
    assert [r.seq for r in found.records] == [1]


def _count(dsn: str, schema: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, "otel_logs"))
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_replayed_batch_is_stored_once(
    pg_store: PostgresExporter, pg_dsn: str, pg_schema: str
) -> None:
    batch = batch_at([BASE_NS + i for i in range(100)], token="ingest:1-0:1-99")
    pg_store.push(batch)
    pg_store.push(batch)  # the writer crashed after its commit, before the ack
    assert _count(pg_dsn, pg_schema) == 100
    untokened = batch_at([BASE_NS + i for i in range(10)])
    pg_store.push(untokened)
    pg_store.push(untokened)  # no token: nothing to deduplicate by
    assert _count(pg_dsn, pg_schema) == 120


def test_a_batch_replayed_by_another_writer_is_stored_once(
    make_config: Callable[..., PostgresConfig], pg_dsn: str, pg_schema: str
) -> None:
    batch = batch_at([BASE_NS + i for i in range(50)], token="ingest:7-0:7-49")
    with PostgresExporter(make_config()) as first, PostgresExporter(make_config()) as second:
        first.push(batch)
        second.push(batch)
    assert _count(pg_dsn, pg_schema) == 50


def test_a_failed_batch_leaves_no_token_so_its_replay_is_stored(
    pg_store: PostgresExporter, pg_dsn: str, pg_schema: str
) -> None:
    bad = batch_at([BASE_NS, BASE_NS + 1], token="ingest:9-0:9-1")
    bad.severity_number[1] = 1_000_000  # out of smallint range: the COPY fails mid-batch
    with pytest.raises(PermanentExportError):
        pg_store.push(bad)
    assert _count(pg_dsn, pg_schema) == 0  # nothing half-written
    good = batch_at([BASE_NS, BASE_NS + 1], token="ingest:9-0:9-1")
    pg_store.push(good)
    assert _count(pg_dsn, pg_schema) == 2


def test_write_survives_a_partition_dropped_by_another_process(
    make_config: Callable[..., PostgresConfig], pg_dsn: str, pg_schema: str
) -> None:
    old = BASE_NS - 20 * DAY_NS
    now = BASE_NS
    with (
        PostgresExporter(make_config(ttl="1d"), clock=lambda: now) as writer,
        PostgresExporter(make_config(ttl="1d"), clock=lambda: now) as janitor,
    ):
        writer.push(batch_at([old]))  # the writer now knows that day's partition
        assert len(janitor.run_maintenance()) == 1  # ...which the janitor drops
        writer.push(batch_at([old + 1]))
    assert _count(pg_dsn, pg_schema) == 1
