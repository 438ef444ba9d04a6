"""Against a store that implements the whole history contract (PostgreSQL today; the
ClickHouse store's filters land on their own branch): late joiners get the *newest*
lines, run streams fall back to the store by pipeline run, and resume from a store id."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from live_tail import create_app
from live_tail.config import LiveTailConfig
from live_tail.exporter import LiveTailExporter
from live_tail.memory_bus import MemoryBus
from tasklogs_postgres import PostgresExporter
from tests.exporters.postgres.support import open_postgres_store
from tests.live_tail.support import make_batch, open_stream, serve


@pytest.fixture
async def pg_live() -> AsyncIterator[tuple[httpx.AsyncClient, PostgresExporter, LiveTailExporter]]:
    bus = MemoryBus(maxlen=100)
    with open_postgres_store() as store:
        app = create_app(store, bus=bus, config=LiveTailConfig(history_lines=5, heartbeat_s=0.5))
        async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
            yield client, store, LiveTailExporter(bus, "live_tail")


async def test_a_late_joiner_gets_the_newest_stored_lines_then_live(
    pg_live: tuple[httpx.AsyncClient, PostgresExporter, LiveTailExporter],
) -> None:
    client, store, publisher = pg_live
    store.push(make_batch("tr-old", range(1, 51)))  # stored, never on this bus
    async with open_stream(client, "/api/v1/tasks/tr-old/logs/stream") as r:
        await r.wait(lambda r: len(r.logs()) >= 5)
        batch = make_batch("tr-old", [51, 52])
        store.push(batch)
        publisher.push(batch)
        await r.wait(lambda r: len(r.logs()) >= 7)
    assert r.seqs() == [46, 47, 48, 49, 50, 51, 52]


async def test_run_stream_from_the_store_then_resume_from_a_store_id(
    pg_live: tuple[httpx.AsyncClient, PostgresExporter, LiveTailExporter],
) -> None:
    client, store, publisher = pg_live
    for tid in ("tr-a", "tr-b"):
        store.push(make_batch(tid, range(1, 5), run="run-pg"))
    async with open_stream(client, "/api/v1/runs/run-pg/logs/stream") as r1:
        await r1.wait(lambda r: len(r.logs()) >= 5)
    ids = [e.id for e in r1.logs()]
    assert all(i is not None and i.startswith("s/") for i in ids)
    # The newest five in (timestamp, task, seq) order: b2 a3 b3 a4 b4.
    got1 = [(e.data["task_run_id"], e.data["seq"]) for e in r1.logs()]
    assert got1 == [("tr-b", 2), ("tr-a", 3), ("tr-b", 3), ("tr-a", 4), ("tr-b", 4)]
    # Resume after b3: the rest of the store, then live, each line once although the
    # live stream holds a4 and a5 too.
    third = r1.logs()[2]
    assert third.id is not None
    store.push(make_batch("tr-a", [5], run="run-pg"))
    publisher.push(make_batch("tr-a", [4, 5], run="run-pg"))
    async with open_stream(
        client, "/api/v1/runs/run-pg/logs/stream", {"Last-Event-ID": third.id}
    ) as r2:
        await r2.wait(lambda r: len(r.logs()) >= 3)
        publisher.push(make_batch("tr-b", [5], run="run-pg"))
        await r2.wait(lambda r: len(r.logs()) >= 4)
    got2 = [(e.data["task_run_id"], e.data["seq"]) for e in r2.logs()]
    assert got2 == [("tr-a", 4), ("tr-b", 4), ("tr-a", 5), ("tr-b", 5)]
