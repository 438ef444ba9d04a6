"""Fixtures of the live-tail tests: both buses, a chDB store, the app on real HTTP."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
import redis

from collector_service.auth import AuthConfig
from collector_service.component.model import LogBatch
from live_tail import create_app
from live_tail.bus import LiveBus
from live_tail.config import LiveTailConfig
from live_tail.exporter import LiveTailExporter
from live_tail.memory_bus import MemoryBus
from live_tail.redis_bus import RedisBus
from live_tail.streams import LiveContext
from tasklogs_clickhouse import ClickHouseExporter
from tests.live_tail.support import serve
from tests.redis_support import redis_cluster_url

__all__ = ["Live", "bus_factory", "live", "live_factory", "redis_cluster_url"]

REDIS_URL = "redis://127.0.0.1:6379/0"


def _drop_keys(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(params=["memory", "redis", "redis-cluster"])
def bus_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., LiveBus]]:
    """Each live-tail test runs on the in-process bus, on the shared Redis, and on a
    3-master Redis Cluster (one reader per hash tag)."""
    prefixes: list[str] = []

    def make(maxlen: int = 10_000) -> LiveBus:
        if request.param == "memory":
            return MemoryBus(maxlen=maxlen, max_age_s=600)
        prefix = f"tltest-{uuid.uuid4().hex[:12]}"
        if request.param == "redis-cluster":  # a throwaway cluster: no key clean-up
            url = request.getfixturevalue("redis_cluster_url")
            return RedisBus(url, key_prefix=prefix, cluster=True, maxlen=maxlen, max_age_s=600)
        prefixes.append(prefix)
        return RedisBus(REDIS_URL, key_prefix=prefix, maxlen=maxlen, max_age_s=600)

    yield make
    for prefix in prefixes:
        _drop_keys(prefix)


@dataclass
class Live:
    """The app on a real port, the bus behind it, and the store."""

    url: str
    bus: LiveBus
    store: ClickHouseExporter
    ctx: LiveContext
    client: httpx.AsyncClient
    publisher: LiveTailExporter

    def publish(self, batch: LogBatch, *, store: bool = True, live: bool = True) -> None:
        """What the pipeline does: the store writer and the live publisher both get it."""
        if store:
            self.store.push(batch)
        if live:
            self.publisher.push(batch)


@pytest.fixture
def live_factory(
    bus_factory: Callable[..., LiveBus], store: ClickHouseExporter
) -> Callable[..., contextlib.AbstractAsyncContextManager[Live]]:
    @contextlib.asynccontextmanager
    async def make(
        *, maxlen: int = 10_000, auth: AuthConfig | None = None, **cfg: object
    ) -> AsyncIterator[Live]:
        bus = bus_factory(maxlen=maxlen)
        config = LiveTailConfig.model_validate({"heartbeat_s": 0.5, **cfg})
        app = create_app(store, bus=bus, config=config, auth=auth)
        async with (
            serve(app) as url,
            httpx.AsyncClient(
                base_url=url, timeout=30, limits=httpx.Limits(max_connections=None)
            ) as client,
        ):
            yield Live(url, bus, store, app.state.live, client, LiveTailExporter(bus, "live_tail"))
        await bus.close()

    return make


@pytest.fixture
async def live(
    live_factory: Callable[..., contextlib.AbstractAsyncContextManager[Live]],
) -> AsyncIterator[Live]:
    async with live_factory() as lv:
        yield lv
