"""The two buses behind one interface: keys, trimming, expiry, fan-out, bounded buffers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import redis

from live_tail.bus import Entry, LiveBus, Subscription, TaskInfo
from live_tail.memory_bus import MemoryBus
from live_tail.model import chunks_from_batch
from live_tail.redis_bus import RedisBus
from tests.live_tail.conftest import REDIS_URL, _drop_keys
from tests.live_tail.support import make_batch


async def test_redis_keys_share_the_runs_hash_tag_and_are_trimmed_and_expire() -> None:
    prefix = f"tltest-{uuid.uuid4().hex[:12]}"
    bus = RedisBus(REDIS_URL, key_prefix=prefix, maxlen=100, max_age_s=120)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        await bus.start()
        for start in range(1, 2001, 10):
            bus.publish(chunks_from_batch(make_batch("tr-k", range(start, start + 10), run="r9")))
        keys = sorted(k.decode() for k in client.scan_iter(match=f"{prefix}:*"))
        assert keys == [
            f"{prefix}:taskrun:{{tr-k}}",
            f"{prefix}:taskstate:{{tr-k}}",  # its live state (task_state.py)
            f"{prefix}:{{run:r9}}:run",
            f"{prefix}:{{run:r9}}:task:tr-k",
            f"{prefix}:{{run:r9}}:tasks",
        ]
        task_key = f"{prefix}:{{run:r9}}:task:tr-k"
        # MAXLEN ~ (100 lines / 10 per entry): approximate trimming keeps about 10 entries.
        assert 10 <= client.xlen(task_key) < 200
        assert 0 < client.ttl(task_key) <= 120
        for key in (f"{prefix}:taskrun:{{tr-k}}", f"{prefix}:taskstate:{{tr-k}}"):
            assert 0 < client.ttl(key) <= 120, key
        states = await bus.task_states(["tr-k", "nope"])
        assert list(states) == ["tr-k"]
        assert (states["tr-k"].line_count, states["tr-k"].max_seq) == (2000, 2000)
        info = await bus.task_info("tr-k")
        assert info is not None
        assert info.pipeline_run_id == "r9"
        first = await bus.first_id(task_key)
        assert first is not None
    finally:
        client.close()
        await bus.close()
        _drop_keys(prefix)


async def test_memory_ring_keeps_maxlen_lines_and_evicts_by_age() -> None:
    bus = MemoryBus(maxlen=100, max_age_s=0.05)
    await bus.start()
    for start in range(1, 1001, 10):
        bus.publish(chunks_from_batch(make_batch("tr-m", range(start, start + 10))))
    info = await bus.task_info("tr-m")
    assert info is not None
    key = bus.task_key(info, "tr-m")
    entries = await bus.before(key, (2**62, 0), 1000)
    assert sum(len(e.chunk.lines) for e in entries) == 100
    assert entries[-1].chunk.lines[0].seq == 901
    await asyncio.sleep(0.1)
    bus._next_sweep = 0
    bus.publish(chunks_from_batch(make_batch("tr-other", [1])))
    assert await bus.task_info("tr-m") is None
    assert await bus.first_id(key) is None


async def test_a_subscription_never_holds_more_than_its_limit() -> None:
    bus = MemoryBus()
    await bus.start()
    sub: Subscription = await bus.subscribe("k", limit_lines=100)
    chunk = chunks_from_batch(make_batch("t", range(1, 51)))[0]
    for i in range(1, 10):
        sub.offer(Entry(f"{i}-0", (i, 0), chunk))
    assert sub.overflowed
    assert sub._lines == 0
    got = await sub.get(0.01)
    assert got == []


def test_chunks_group_a_batch_by_task_run() -> None:
    batch = make_batch("a", [1, 2])
    batch.extend(make_batch("b", [1]))
    batch.extend(make_batch("a", [3]))
    chunks = chunks_from_batch(batch)
    assert [(c.task_run_id, [ln.seq for ln in c.lines]) for c in chunks] == [
        ("a", [1, 2, 3]),
        ("b", [1]),
    ]
    again = type(chunks[0]).decode(chunks[0].encode())
    assert [ln.seq for ln in again.lines] == [1, 2, 3]
    assert again.pipeline_run_id == "run-1"


def test_the_publisher_never_blocks_ingestion_on_a_dead_bus() -> None:
    from live_tail.exporter import LiveTailExporter
    from tests.support import free_port

    dead = RedisBus(f"redis://127.0.0.1:{free_port()}/0", key_prefix="tltest-dead")
    publisher = LiveTailExporter(dead, "live_tail")
    publisher.push(make_batch("tr-x", range(1, 4)))  # no exception: not retried, not queued
    assert publisher.dropped == 3
    dead.close_sync()


async def test_a_chunk_has_one_id_in_its_task_and_run_streams(
    bus_factory: Callable[..., LiveBus],
) -> None:
    bus = bus_factory()
    await bus.start()
    try:
        for tid, seqs in [("a", range(1, 4)), ("b", range(1, 3)), ("a", range(4, 6))]:
            bus.publish(chunks_from_batch(make_batch(tid, seqs, run="r-ids")))
        await asyncio.sleep(0.05)  # the in-process bus applies on the loop
        run = await bus.before(bus.run_key("r-ids"), (2**62, 0), 10)
        info = TaskInfo("r-ids", "")
        a = await bus.before(bus.task_key(info, "a"), (2**62, 0), 10)
        b = await bus.before(bus.task_key(info, "b"), (2**62, 0), 10)
        assert [e.id for e in reversed(run)] == [a[1].id, b[0].id, a[0].id]
        tasks = await bus.run_tasks("r-ids")
        assert tasks == {"a": (a[1].pos, a[0].pos), "b": (b[0].pos, b[0].pos)}
    finally:
        await bus.close()


async def test_a_reader_trimmed_past_resyncs_its_clients() -> None:
    prefix = f"tltest-{uuid.uuid4().hex[:12]}"
    bus = RedisBus(REDIS_URL, key_prefix=prefix, maxlen=100, max_age_s=120)
    try:
        await bus.start()
        bus.publish(chunks_from_batch(make_batch("tr-p", range(1, 51), run="r-p")))
        sub = await bus.subscribe(bus.run_key("r-p"), limit_lines=100_000)
        # Published faster than the reader reads (it cannot run meanwhile): trimmed past it.
        for start in range(51, 1051, 50):
            bus.publish(chunks_from_batch(make_batch("tr-p", range(start, start + 50), run="r-p")))
        await sub.get(2.0)
        assert sub.overflowed
        # A reader that keeps up does not.
        calm = await bus.subscribe(bus.run_key("r-p"), limit_lines=100_000)
        bus.publish(chunks_from_batch(make_batch("tr-p", range(1051, 1061), run="r-p")))
        got = await calm.get(2.0)
        assert not calm.overflowed
        assert [ln.seq for ln in got[0].chunk.lines] == list(range(1051, 1061))
    finally:
        await bus.close()
        _drop_keys(prefix)
