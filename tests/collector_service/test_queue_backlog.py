"""``tasklogs_exporter_queue_entries`` is the true backlog (pending plus not yet
delivered), also where the group's ``lag`` is wrong: after a takeover of a dead
consumer's pending entries, and on a stream with a deleted entry (against a real Redis
and a real Redis Cluster)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from collector_service.metrics import REGISTRY
from collector_service.pipeline.helper import ExporterHandle
from collector_service.stream.consumer import RedisWriters, StreamConsumer
from collector_service.stream.queue import (
    BACKLOG_EXACT_UPTO,
    RedisIngest,
    group_backlog,
    group_states,
)
from tests.collector_service.test_pipeline import Recorder, entry
from tests.collector_service.test_redis_ingest import _config, _helper, _spec, _until
from tests.redis_support import RedisTarget, redis_cluster_url, redis_target

__all__ = ["redis_cluster_url", "redis_target"]  # fixtures used by this module


def _gauge(stream: str) -> float | None:
    return REGISTRY.get_sample_value(
        "tasklogs_exporter_queue_entries", {"exporter": "rec", "stream": stream}
    )


async def test_queue_entries_after_a_takeover_is_zero_once_written(
    redis_target: RedisTarget, tmp_path: Path
) -> None:
    config = _config(redis_target, tmp_path)
    assert config.redis is not None
    ingest = RedisIngest(config.redis, ["rec"])
    await ingest.start()
    stream = ingest.keys.stream(0)
    assert ingest.client is not None
    for i in range(6):
        await ingest.submit(entry(5, start=i * 5))
    # A writer reads a batch and dies before writing it: another takes its PEL over.
    doomed = ExporterHandle("rec", Recorder(), _helper())
    dying = StreamConsumer(
        ingest.client,
        ingest.keys,
        stream,
        handle=doomed,
        ingest=config.redis.ingest,
        name="doomed",
        stopping=asyncio.Event(),
    )
    assert len(await dying._gather()) == 6
    (state,) = await group_states(ingest.client, stream)
    assert await group_backlog(ingest.client, stream, state) == 6
    rec = Recorder()
    writers = RedisWriters(config, [_spec(rec)])
    await writers.start()
    try:
        await _until(lambda: len(rec.bodies()) >= 30)
        for i in range(6, 9):  # and more after the takeover
            await ingest.submit(entry(5, start=i * 5))
        await _until(lambda: len(rec.bodies()) >= 45)
        await _until(lambda: _gauge(stream) == 0)
        (state,) = await group_states(ingest.client, stream)
        assert state.pending == 0
        assert await group_backlog(ingest.client, stream, state) == 0
    finally:
        await writers.stop(5)
        await ingest.stop()
        await doomed.stop()


async def test_queue_entries_counts_what_lag_cannot(
    redis_target: RedisTarget, tmp_path: Path
) -> None:
    config = _config(redis_target, tmp_path)
    assert config.redis is not None
    ingest = RedisIngest(config.redis, ["rec"])
    await ingest.start()
    stream = ingest.keys.stream(0)
    client = ingest.client
    assert client is not None
    try:
        ids = [await client.xadd(stream, {"f": "v"}) for _ in range(10)]
        await client.xreadgroup("rec", "a", {stream: ">"}, count=4)
        # Taken over by another consumer (as a takeover does), then one entry deleted:
        # Redis's lag is NULL from then on although 6 are undelivered, 4 pending.
        await client.xclaim(stream, "rec", "b", min_idle_time=0, message_ids=ids[:4])
        await client.xdel(stream, ids[6])
        (state,) = await group_states(client, stream)
        assert state.lag is None
        assert await group_backlog(client, stream, state) == 4 + 5
        await client.xack(stream, "rec", *ids[:4])
        await client.xreadgroup("rec", "b", {stream: ">"}, count=100)
        (state,) = await group_states(client, stream)
        assert await group_backlog(client, stream, state) == 5  # 5 pending, none after
        await client.xack(stream, "rec", *ids)
        (state,) = await group_states(client, stream)
        assert await group_backlog(client, stream, state) == 0
        # Past the exact bound: at least the bound (an estimate, no scan of the stream).
        for _ in range(BACKLOG_EXACT_UPTO + 10):
            await client.xadd(stream, {"f": "v"})
        (state,) = await group_states(client, stream)
        assert await group_backlog(client, stream, state) >= BACKLOG_EXACT_UPTO
    finally:
        await ingest.stop()
