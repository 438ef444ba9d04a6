"""The shared fan-out is still every client's own stream: a herd of followers of one
task gets every event exactly once, in order, with the ids a resume continues from; and
on Redis the herd's reads and decodes are shared (one read, one decoded entry)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from live_tail.bus import TaskInfo
from live_tail.model import chunks_from_batch
from live_tail.redis_bus import RedisBus
from tests.live_tail.conftest import REDIS_URL, Live, _drop_keys
from tests.live_tail.support import SSEReader, make_batch, open_stream

CLIENTS = 40


def _url(tid: str) -> str:
    return f"/api/v1/tasks/{tid}/logs/stream"


async def test_a_herd_of_followers_each_gets_every_event_once_in_order(live: Live) -> None:
    tid = f"tr-herd-{uuid.uuid4().hex[:6]}"
    async with contextlib.AsyncExitStack() as stack:
        # Every client is waiting before the task appears: they all join at once.
        readers: list[SSEReader] = list(
            await asyncio.gather(
                *(
                    stack.enter_async_context(open_stream(live.client, _url(tid)))
                    for _ in range(CLIENTS)
                )
            )
        )
        for start in range(1, 31, 3):  # ten entries, published while the herd catches up
            live.publish(make_batch(tid, range(start, start + 3)))
            await asyncio.sleep(0)
        live.publish(make_batch(tid, [31, 32], end=True))
        for r in readers:
            await r.wait(lambda r: r.closed, timeout=30)
        # A client resuming from the middle continues after it, never twice.
        async with open_stream(live.client, _url(tid), {"Last-Event-ID": "17"}) as resumed:
            await resumed.wait(lambda r: r.closed)
    expected = list(range(1, 33))
    first = [(e.id, e.data) for e in readers[0].logs()]
    for r in readers:
        assert r.seqs() == expected  # every event, once, in order
        assert [e.id for e in r.logs()] == [str(s) for s in expected]  # resumable ids
        assert [(e.id, e.data) for e in r.logs()] == first  # the same bytes for all
        assert [e.event for e in r.events][-1] == "end"
    assert resumed.seqs() == list(range(18, 33))
    assert [(e.id, e.data) for e in resumed.logs()] == first[17:]


async def test_redis_range_reads_of_a_herd_run_once_and_share_decoded_entries() -> None:
    prefix = f"tltest-{uuid.uuid4().hex[:12]}"
    bus = RedisBus(REDIS_URL, key_prefix=prefix, maxlen=10_000, max_age_s=120)
    try:
        await bus.start()
        for start in range(1, 40, 10):
            bus.publish(chunks_from_batch(make_batch("tr-sh", range(start, start + 10), run="r")))
        key = bus.task_key(await _info(bus, "tr-sh"), "tr-sh")
        subs = await asyncio.gather(*(bus.subscribe(key, 10_000) for _ in range(CLIENTS)))
        assert len({s.position for s in subs}) == 1
        reads = bus.shared.reads
        pages = await asyncio.gather(*(bus.before(key, subs[0].position, 64) for _ in subs))
        assert bus.shared.reads == reads + 1  # one XREVRANGE for the whole herd
        newest_first = [s for start in (31, 21, 11, 1) for s in range(start, start + 10)]
        for page in pages:
            assert [ln.seq for e in page for ln in e.chunk.lines] == newest_first
            assert all(a is b for a, b in zip(page, pages[0], strict=True))
        # Live entries (the reader's XREAD) are decoded once and are what a range read
        # of them returns: one object, so its SSE bytes are formatted once.
        decoded = bus.shared.decoded
        bus.publish(chunks_from_batch(make_batch("tr-sh", range(41, 44), run="r")))
        got = await asyncio.gather(*(s.get(5.0) for s in subs))
        assert all(g[0] is got[0][0] for g in got)
        assert [ln.seq for ln in got[0][0].chunk.lines] == [41, 42, 43]
        (again,) = await bus.after(key, subs[0].position, got[0][0].pos, 64)
        assert again is got[0][0]
        assert bus.shared.decoded == decoded + 1
    finally:
        await bus.close()
        _drop_keys(prefix)


async def _info(bus: RedisBus, tid: str) -> TaskInfo:
    info = await bus.task_info(tid)
    assert info is not None
    return info
