"""The durable hand-off and the writers, against a real Redis and a real Redis Cluster.

A recording exporter stands in for the database (the end-to-end tests in
tests/e2e/test_durability.py use the real chDB store and real processes).
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from collector_service.component.decode import parse_request
from collector_service.component.exporter import ExporterContext, ExporterSpec
from collector_service.errors import BackpressureError, PermanentExportError, UnavailableError
from collector_service.pipeline.config import ExporterHelperConfig
from collector_service.pipeline.deadletter import list_dead_letters
from collector_service.pipeline.helper import ExporterHandle
from collector_service.pipeline.router import Pipeline
from collector_service.service.config import Config
from collector_service.stream.consumer import RedisWriters, StreamConsumer, batch_token
from collector_service.stream.queue import RedisIngest
from tests.collector_service.test_pipeline import Recorder, entry
from tests.redis_support import PrivateRedis, RedisTarget, redis_cluster_url, redis_target
from tests.support import free_port

__all__ = ["redis_cluster_url", "redis_target"]  # fixtures used by this module


class _NoConfig(BaseModel):
    pass


class _Factory:
    type_name = "rec"
    config_model: type[BaseModel] = _NoConfig

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def create(self, config: BaseModel, context: ExporterContext) -> Recorder:
        return self.recorder


def _helper(**overrides: object) -> ExporterHelperConfig:
    base: dict[str, object] = {
        "batch": {"timeout_ms": 50, "send_batch_max_size": 1000},
        "retry_on_failure": {"initial_interval_ms": 1, "max_elapsed_time_s": 5},
    }
    base.update(overrides)
    return ExporterHelperConfig.model_validate(base)


def _config(target: RedisTarget, tmp_path: Path, **ingest: object) -> Config:
    return Config(
        data_dir=tmp_path,
        redis=target.config(block_ms=50, heartbeat_timeout_s=1, **ingest),
    )


def _spec(recorder: Recorder, **helper: object) -> ExporterSpec:
    return ExporterSpec("rec", _Factory(recorder), _NoConfig(), _helper(**helper))


async def _until(check: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def test_submit_is_bounded(redis_target: RedisTarget, tmp_path: Path) -> None:
    config = _config(redis_target, tmp_path, max_backlog_entries=3)
    assert config.redis is not None
    ingest = RedisIngest(config.redis, ["rec"])
    await ingest.start()
    pipeline = Pipeline([], ingest)
    try:
        for i in range(3):
            await pipeline.submit(entry(5, start=i * 5))
        with pytest.raises(BackpressureError, match="is full") as info:
            await pipeline.submit(entry(5))
        assert not isinstance(info.value, UnavailableError)
        assert pipeline.accepted_records == 15
        assert pipeline.refused_records == 5
        client = redis_target.client()
        assert client.xlen(ingest.keys.stream(0)) == 3
        client.close()
    finally:
        await ingest.stop()


async def test_unreachable_redis_refuses_as_unavailable(tmp_path: Path) -> None:
    target = RedisTarget(f"redis://127.0.0.1:{free_port()}/0", False, "nowhere")
    config = _config(target, tmp_path)
    assert config.redis is not None
    ingest = RedisIngest(config.redis, ["rec"])
    await ingest.start()  # not fatal: the service starts and answers UNAVAILABLE
    try:
        with pytest.raises(UnavailableError):
            await Pipeline([], ingest).submit(entry(1))
    finally:
        await ingest.stop()


async def test_writers_store_every_entry_once_then_trim(
    redis_target: RedisTarget, tmp_path: Path
) -> None:
    config = _config(redis_target, tmp_path, shards=2)
    assert config.redis is not None
    rec = Recorder()
    ingest = RedisIngest(config.redis, ["rec"])
    await ingest.start()
    writers = RedisWriters(config, [_spec(rec)])
    await writers.start()
    try:
        for i in range(20):
            await ingest.submit(entry(5, start=i * 5))
        await _until(lambda: len(rec.bodies()) >= 100)
        client = redis_target.client()
        streams = ingest.keys.all_streams()
        await _until(lambda: sum(client.xlen(s) for s in streams) == 0)  # trimmed
        assert all(client.xpending(s, "rec")["pending"] == 0 for s in streams)
        client.close()
    finally:
        await writers.stop(5)
        await ingest.stop()
    assert sorted(rec.bodies()) == sorted(f"l{i}" for i in range(100))
    assert all(b.token for b in rec.batches)
    assert len({b.token for b in rec.batches}) == len(rec.batches)
    assert len(rec.batches) < 20  # requests were combined into larger writes


async def test_dead_consumers_batch_is_replayed_whole_with_its_token(
    redis_target: RedisTarget, tmp_path: Path
) -> None:
    config = _config(redis_target, tmp_path)
    assert config.redis is not None
    ingest = RedisIngest(config.redis, ["rec"])
    await ingest.start()
    for i in range(6):
        await ingest.submit(entry(5, start=i * 5))
    # A writer reads a batch and dies before writing it: it never heart-beats again.
    client = ingest.client
    doomed = ExporterHandle("rec", Recorder(), _helper())
    dying = StreamConsumer(
        client,
        ingest.keys,
        ingest.keys.stream(0),
        handle=doomed,
        ingest=config.redis.ingest,
        name="doomed",
        stopping=asyncio.Event(),
    )
    taken = await dying._gather()
    assert len(taken) == 6
    token = batch_token(ingest.keys.stream(0), [e.id for e in taken])
    rec = Recorder()
    writers = RedisWriters(config, [_spec(rec)])
    await writers.start()
    try:
        await _until(lambda: len(rec.bodies()) >= 30)
    finally:
        await writers.stop(5)
        await ingest.stop()
        await doomed.stop()
    assert [b.token for b in rec.batches] == [token]  # one batch: the dead one's, same token
    assert sorted(rec.bodies()) == sorted(f"l{i}" for i in range(30))


async def test_permanent_failures_are_dead_lettered_and_listed(
    redis_target: RedisTarget, tmp_path: Path
) -> None:
    config = _config(redis_target, tmp_path)
    assert config.redis is not None
    rec = Recorder([PermanentExportError("schema mismatch")])
    ingest = RedisIngest(config.redis, ["rec"])
    await ingest.start()
    writers = RedisWriters(config, [_spec(rec)])
    await writers.start()
    try:
        await ingest.submit(entry(4))
        await _until(lambda: writers.handles[0].stats.dead_lettered == 4)
        await ingest.submit(entry(2, start=4))
        await _until(lambda: len(rec.bodies()) == 2)
    finally:
        await writers.stop(5)
        await ingest.stop()
    config = config.model_copy(update={"exporters": {"rec": {}}})
    dead = list_dead_letters(config, ["rec"], 10)
    assert [d.records for d in dead] == [4]
    assert dead[0].reason == "export failed: permanent error: schema mismatch"
    assert len(parse_request(dead[0].payload).resource_logs[0].scope_logs[0].log_records) == 4
    assert rec.bodies() == ["l4", "l5"]


async def test_store_outage_is_retried_and_loses_nothing(
    redis_target: RedisTarget, tmp_path: Path
) -> None:
    config = _config(redis_target, tmp_path)
    assert config.redis is not None
    rec = Recorder()
    down = threading.Event()
    down.set()
    original = rec.push

    def push(batch: Any) -> None:
        if down.is_set():
            raise ConnectionError("store down")
        original(batch)

    rec.push = push  # type: ignore[method-assign]
    ingest = RedisIngest(config.redis, ["rec"])
    await ingest.start()
    writers = RedisWriters(config, [_spec(rec, retry_on_failure={"initial_interval_ms": 20})])
    await writers.start()
    try:
        for i in range(5):
            await ingest.submit(entry(3, start=i * 3))
        await _until(lambda: writers.handles[0].stats.retries >= 3)
        down.clear()
        await _until(lambda: len(rec.bodies()) >= 15)
    finally:
        await writers.stop(5)
        await ingest.stop()
    assert sorted(rec.bodies()) == sorted(f"l{i}" for i in range(15))


async def test_redis_restart_loses_nothing_and_writers_keep_running(tmp_path: Path) -> None:
    server = PrivateRedis(tmp_path, fsync="always")
    server.start()
    target = RedisTarget(server.url, False, "restart")
    config = _config(target, tmp_path)
    assert config.redis is not None
    rec = Recorder()
    ingest = RedisIngest(config.redis, ["rec"])
    writers = RedisWriters(config, [_spec(rec)])
    try:
        await ingest.start()
        await writers.start()
        for i in range(5):
            await ingest.submit(entry(2, start=i * 2))
        await _until(lambda: len(rec.bodies()) == 10)
        server.kill()  # Redis crashes
        with pytest.raises(UnavailableError):
            await ingest.submit(entry(2, start=100))
        await asyncio.sleep(1.0)  # writers hit errors and back off
        assert all(not t.done() for t in writers._tasks)
        server.start()  # same port, same append-only file
        for i in range(5, 10):
            while True:
                try:
                    await ingest.submit(entry(2, start=i * 2))
                    break
                except UnavailableError:
                    await asyncio.sleep(0.1)
        await _until(lambda: len(rec.bodies()) == 20)
    finally:
        await writers.stop(5)
        await ingest.stop()
        server.kill()
    assert sorted(rec.bodies()) == sorted(f"l{i}" for i in range(20))
