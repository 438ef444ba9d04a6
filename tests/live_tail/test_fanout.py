"""What keeps the fan-out cheap keeps it correct: shared event bytes, the heartbeat, the
shared wait for a task, single-flight store queries."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from collector_service.component.store import HistoryPage, HistoryQuery
from live_tail.bus import Entry
from live_tail.config import LiveTailConfig
from live_tail.fanout import SharedEvents
from live_tail.memory_bus import MemoryBus
from live_tail.model import chunks_from_batch
from live_tail.streams import LiveContext
from tasklogs_clickhouse import ClickHouseExporter
from tests.live_tail.conftest import Live
from tests.live_tail.support import make_batch, open_stream

LiveFactory = Callable[..., contextlib.AbstractAsyncContextManager[Live]]


def _url(tid: str, query: str = "") -> str:
    return f"/api/v1/tasks/{tid}/logs/stream{query}"


async def test_plain_filtered_and_resumed_clients_each_get_their_lines(live: Live) -> None:
    live.publish(make_batch("tr-f", range(1, 6)))
    async with (
        open_stream(live.client, _url("tr-f")) as plain,
        open_stream(live.client, _url("tr-f", "?min_severity=ERROR")) as errors,
        open_stream(live.client, _url("tr-f"), {"Last-Event-ID": "3"}) as resumed,
        open_stream(live.client, _url("tr-f")) as plain2,
    ):
        await plain.wait(lambda r: len(r.logs()) >= 5)
        await resumed.wait(lambda r: len(r.logs()) >= 2)
        await plain2.wait(lambda r: len(r.logs()) >= 5)
        live.publish(make_batch("tr-f", range(6, 9)))
        live.publish(make_batch("tr-f", range(9, 11), severity=17, end=True))
        for r in (plain, errors, resumed, plain2):
            await r.wait(lambda r: r.closed)
    assert plain.seqs() == list(range(1, 11))
    assert plain2.seqs() == list(range(1, 11))
    assert resumed.seqs() == list(range(4, 11))
    assert errors.seqs() == [9, 10]
    for r in (plain, errors, resumed, plain2):
        assert [e.event for e in r.events][-1] == "end"
    # The same events, byte for byte: ids, names, data.
    assert [(e.id, e.data) for e in plain.logs()] == [(e.id, e.data) for e in plain2.logs()]
    assert [(e.id, e.data) for e in resumed.logs()] == [(e.id, e.data) for e in plain.logs()[3:]]


def test_an_entry_is_formatted_once_per_task_name() -> None:
    chunk = chunks_from_batch(make_batch("tr-s", range(1, 4), end=True))[0]
    entry = Entry("1-0", (1, 0), chunk)
    shared = SharedEvents(max_entries=2)
    first = shared.task_events(entry, "tr-s", "build")
    assert shared.task_events(entry, "tr-s", "build") is first
    assert (first.min_seq, first.max_seq) == (1, 3)
    assert first.end is not None
    assert first.end.seq == 3
    assert first.data.count(b"event: log\n") == 3
    assert shared.task_events(entry, "tr-s", "other") is not first
    for i in range(3):  # bounded: older entries are dropped
        shared.task_events(Entry(f"2-{i}", (2, i), chunk), "tr-s", "build")
    assert shared.task_events(entry, "tr-s", "build") is not first


async def test_an_idle_live_stream_still_sends_heartbeats(live: Live) -> None:
    live.publish(make_batch("tr-quiet", range(1, 3)))
    async with open_stream(live.client, _url("tr-quiet")) as r:
        await r.wait(lambda r: len(r.logs()) >= 2)
        await r.wait(lambda r: r.comments >= 2, timeout=5)
        live.publish(make_batch("tr-quiet", [3]))
        await r.wait(lambda r: len(r.logs()) >= 3)
    assert r.seqs() == [1, 2, 3]


async def test_streams_waiting_for_a_task_share_one_lookup(live: Live) -> None:
    async with (
        open_stream(live.client, _url("tr-soon")) as a,
        open_stream(live.client, _url("tr-soon")) as b,
    ):
        for _ in range(200):
            if live.ctx.watch.waiting == 1:
                break
            await asyncio.sleep(0.01)
        assert live.ctx.watch.waiting == 1  # two streams, one task run looked for
        live.publish(make_batch("tr-soon", range(1, 4)))
        await a.wait(lambda r: len(r.logs()) >= 3)
        await b.wait(lambda r: len(r.logs()) >= 3)
    assert a.seqs() == b.seqs() == [1, 2, 3]
    assert live.ctx.watch.waiting == 0


async def test_task_watch_times_out_and_closes() -> None:
    bus = MemoryBus()
    await bus.start()
    ctx = LiveContext(bus, None, LiveTailConfig())
    assert await ctx.watch.wait("nobody", 0.05) is None
    waiter = asyncio.create_task(ctx.watch.wait("nobody", 30))
    await asyncio.sleep(0.05)
    ctx.shutdown()
    assert await asyncio.wait_for(waiter, 5) is None


class _CountingStore:
    """The real store, counting the queries that reach it."""

    def __init__(self, store: ClickHouseExporter) -> None:
        self.store = store
        self.calls = 0

    def query(self, q: HistoryQuery) -> HistoryPage:
        self.calls += 1
        return self.store.query(q)


async def test_identical_store_queries_in_flight_run_once(store: ClickHouseExporter) -> None:
    store.push(make_batch("tr-q", range(1, 6)))
    counting = _CountingStore(store)
    bus = MemoryBus()
    await bus.start()
    ctx = LiveContext(bus, counting, LiveTailConfig())
    q = HistoryQuery(task_run_id="tr-q")
    pages = await asyncio.gather(*(ctx.query(q) for _ in range(20)))
    assert counting.calls < 20
    assert all([r.seq for r in records] == [1, 2, 3, 4, 5] for records, _ in pages)
    other = await ctx.query(HistoryQuery(task_run_id="tr-q", min_severity=17))
    assert other[0] == []


def test_an_entry_with_seqs_out_of_order_goes_line_by_line() -> None:
    chunk = chunks_from_batch(make_batch("tr-o", [5, 3, 6]))[0]  # sorted: 3, 5, 6
    chunk.lines[:2] = chunk.lines[1::-1]  # an entry made out of order: 5, 3, 6
    events = SharedEvents().task_events(Entry("1-0", (1, 0), chunk), "tr-o", "build")
    assert not events.ordered
