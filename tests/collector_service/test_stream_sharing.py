"""Redis writers of one process: one decode per entry, best-effort groups off the bound,
and a trim that survives odd group states (against a real Redis and a Redis Cluster)."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import pytest

from collector_service.component.exporter import ExporterSpec
from collector_service.errors import BackpressureError
from collector_service.metrics import REGISTRY
from collector_service.pipeline.router import Pipeline
from collector_service.pipeline.shared_decode import SharedDecode
from collector_service.stream.consumer import RedisWriters
from collector_service.stream.queue import RedisIngest, connect, ensure_groups, trim
from tests.collector_service.test_pipeline import Recorder, entry
from tests.collector_service.test_redis_ingest import _config, _Factory, _helper, _NoConfig, _until
from tests.redis_support import RedisTarget, redis_cluster_url, redis_target

__all__ = ["redis_cluster_url", "redis_target"]  # fixtures used by this module


class _BestEffortFactory(_Factory):
    best_effort = True


def _spec(cid: str, recorder: Recorder, *, best_effort: bool = False) -> ExporterSpec:
    factory = _BestEffortFactory(recorder) if best_effort else _Factory(recorder)
    return ExporterSpec(cid, factory, _NoConfig(), _helper())


def _skipped(exporter: str) -> float:
    value = REGISTRY.get_sample_value(
        "tasklogs_exporter_skipped_entries_total", {"exporter": exporter}
    )
    return value or 0.0


def test_best_effort_comes_from_the_factory() -> None:
    assert _spec("live", Recorder(), best_effort=True).best_effort
    assert not _spec("rec", Recorder()).best_effort
    from live_tail.exporter import factory

    assert ExporterSpec("live_tail", factory, _NoConfig(), _helper()).best_effort


async def test_two_exporters_in_one_process_decode_each_entry_once(
    redis_target: RedisTarget, tmp_path: Path
) -> None:
    config = _config(redis_target, tmp_path, shards=2)
    assert config.redis is not None
    store, live = Recorder(), Recorder()
    ingest = RedisIngest(config.redis, ["store", "live"])
    await ingest.start()
    shared = SharedDecode()
    writers = RedisWriters(
        config, [_spec("store", store), _spec("live", live, best_effort=True)], shared
    )
    await writers.start()
    try:
        for i in range(20):
            await ingest.submit(entry(5, start=i * 5))
        await _until(lambda: len(store.bodies()) >= 100 and len(live.bodies()) >= 100)
    finally:
        await writers.stop(5)
        await ingest.stop()
    expected = sorted(f"l{i}" for i in range(100))
    assert sorted(store.bodies()) == sorted(live.bodies()) == expected
    assert shared.decodes == 20  # one per entry, not one per exporter
    assert shared.records == 0
    assert shared.held() == 0
    assert all(b.token for b in store.batches + live.batches)  # dedup tokens kept


async def test_a_lagging_exporter_decodes_for_itself_past_the_bound(
    redis_target: RedisTarget, tmp_path: Path
) -> None:
    config = _config(redis_target, tmp_path)
    assert config.redis is not None
    fast, slow = Recorder(), Recorder()
    gate = threading.Event()
    original = slow.push

    def held_push(batch: object) -> None:
        gate.wait(10)
        original(batch)  # type: ignore[arg-type]

    slow.push = held_push  # type: ignore[method-assign]
    ingest = RedisIngest(config.redis, ["fast", "slow"])
    await ingest.start()
    shared = SharedDecode(max_records=20)
    writers = RedisWriters(config, [_spec("fast", fast), _spec("slow", slow)], shared)
    await writers.start()
    peak = 0
    try:
        for i in range(20):
            await ingest.submit(entry(5, start=i * 5))
            peak = max(peak, shared.records)
            await asyncio.sleep(0.01)
        await _until(lambda: len(fast.bodies()) >= 100)
        peak = max(peak, shared.records)
        gate.set()
        await _until(lambda: len(slow.bodies()) >= 100)
    finally:
        gate.set()
        await writers.stop(5)
        await ingest.stop()
    assert peak <= 20
    assert sorted(slow.bodies()) == sorted(fast.bodies()) == sorted(f"l{i}" for i in range(100))
    assert 20 < shared.decodes < 40  # the lagging one decoded what was let go, no more


async def test_an_unread_best_effort_group_never_refuses_and_the_stream_stays_bounded(
    redis_target: RedisTarget, tmp_path: Path
) -> None:
    """Reproduces the live tail filling the durable backlog, then shows it fixed."""
    config = _config(redis_target, tmp_path, max_backlog_entries=4)
    assert config.redis is not None
    store = Recorder()
    # Nobody reads the "live" group (as when no live-tail publisher runs).
    ingest = RedisIngest(config.redis, ["store", "live"])
    await ingest.start()
    writers = RedisWriters(config, [_spec("store", store)])
    await writers.start()
    pipeline = Pipeline([], ingest)
    client = redis_target.client()
    stream = ingest.keys.stream(0)
    try:
        # Unmarked, the unread group holds the backlog: every Export is refused.
        for i in range(4):
            await pipeline.submit(entry(1, start=i))
            await _until(lambda i=i: len(store.bodies()) == i + 1)
        with pytest.raises(BackpressureError, match="is full"):
            await pipeline.submit(entry(1, start=4))
        assert client.xlen(stream) == 4
        # Marked best effort (as the live tail's factory declares), it holds nothing.
        assert ingest.client is not None
        await ensure_groups(ingest.client, ingest.keys, ["live"], best_effort=["live"])
        before, written = _skipped("live"), len(store.bodies())
        for i in range(30):
            await pipeline.submit(entry(1, start=100 + i))  # never refused
            await _until(lambda i=i: len(store.bodies()) == written + i + 1)
            assert client.xlen(stream) <= 4  # bounded: a submit at the bound trims first
        await _until(lambda: _skipped("live") - before >= 30 - 4)
        await _until(lambda: client.xlen(stream) <= 4)
        live = next(g for g in client.xinfo_groups(stream) if g["name"] == b"live")
        assert live["lag"] == client.xlen(stream)  # its lag counts only what is left
    finally:
        client.close()
        await writers.stop(5)
        await ingest.stop()
    assert pipeline.refused_records == 1


async def test_a_best_effort_group_under_the_bound_loses_nothing(
    redis_target: RedisTarget, tmp_path: Path
) -> None:
    config = _config(redis_target, tmp_path, max_backlog_entries=100)
    assert config.redis is not None
    store = Recorder()
    ingest = RedisIngest(config.redis, ["store", "live"], best_effort=["live"])
    await ingest.start()
    writers = RedisWriters(config, [_spec("store", store)])
    await writers.start()
    client = redis_target.client()
    stream = ingest.keys.stream(0)
    before = _skipped("live")
    try:
        for i in range(10):
            await ingest.submit(entry(2, start=i * 2))
        await _until(lambda: len(store.bodies()) == 20)
        await asyncio.sleep(0.7)  # a trim or two
        assert client.xlen(stream) == 10  # kept for the live group while under the bound
        assert _skipped("live") == before
    finally:
        client.close()
        await writers.stop(5)
        await ingest.stop()


async def test_only_best_effort_groups_keep_half_the_bound(
    redis_target: RedisTarget, tmp_path: Path
) -> None:
    config = _config(redis_target, tmp_path, max_backlog_entries=6)
    assert config.redis is not None
    ingest = RedisIngest(config.redis, ["live"], best_effort=["live"])
    await ingest.start()
    try:
        for i in range(20):
            await ingest.submit(entry(1, start=i))  # never refused
            if i % 5 == 4:
                assert ingest.client is not None
                await trim(ingest.client, ingest.keys.stream(0), 6)
        assert ingest.client is not None
        trimmed = await trim(ingest.client, ingest.keys.stream(0), 6)
        assert trimmed.removed == 0 or trimmed.skipped
        assert await ingest.client.xlen(ingest.keys.stream(0)) <= 6
    finally:
        await ingest.stop()


async def test_trim_after_a_redis_restart_raises_nothing(
    redis_target: RedisTarget, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A restart loses streams and groups (no persistence): no ERROR, writers go on."""
    config = _config(redis_target, tmp_path)
    assert config.redis is not None
    client = connect(config.redis)
    ingest = RedisIngest(config.redis, ["store"])
    stream = ingest.keys.stream(0)
    try:
        assert (await trim(client, stream, 10)).removed == 0  # no stream at all
        await client.xgroup_create(stream, "g", id="$", mkstream=True)  # empty, 0-0
        assert (await trim(client, stream, 10)).removed == 0
        await client.delete(stream)
    finally:
        await client.aclose()
    store = Recorder()
    await ingest.start()
    writers = RedisWriters(config, [_spec("store", store)])
    await writers.start()
    sync = redis_target.client()
    try:
        with caplog.at_level(logging.WARNING):
            await ingest.submit(entry(3))
            await _until(lambda: len(store.bodies()) == 3)
            sync.delete(stream)  # what a restart without persistence leaves
            await asyncio.sleep(0.8)  # consumers read and trim a missing stream
            ingest._groups_ready = False  # a receiver recreates the groups on its next submit
            await ingest.submit(entry(3, start=3))
            await _until(lambda: len(store.bodies()) == 6)
            await asyncio.sleep(0.6)
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert not errors, [r.getMessage() for r in errors]
    finally:
        sync.close()
        await writers.stop(5)
        await ingest.stop()
