"""The ``live_tail`` extension: the live bus, its HTTP routes and its metrics.

Created by the service from ``extensions.live_tail`` (:class:`~live_tail.config.LiveTailConfig`)
like any extension. When it starts it builds the bus from ``host.redis`` (Redis Streams
when configured, else the in-process :class:`~live_tail.memory_bus.MemoryBus`), and adds
to the host its routes (history, downloads, SSE streams, stream tokens) and its metrics
registry. The ``live_tail`` exporter finds the bus through
``host.extension("live_tail")``; unless a pipeline lists one, or ``enabled: false``, the
extension contributes that exporter to every pipeline with a ``publish_linger_ms`` batch
linger (:meth:`LiveTailExtension.default_exporters`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pydantic import BaseModel
from redis.exceptions import RedisError

from collector_service.component.extension import (
    ExporterContribution,
    ExtensionContext,
    Host,
)
from collector_service.errors import ConfigError
from live_tail import metrics
from live_tail.bus import LiveBus
from live_tail.config import LiveTailConfig
from live_tail.exporter import factory as exporter_factory
from live_tail.history import first_tail
from live_tail.memory_bus import MemoryBus
from live_tail.redis_bus import RedisBus
from live_tail.routes import build_router, make_guards
from live_tail.streams import LiveContext
from live_tail.web import FIRST_TAIL_LINES, build_web_router

__all__ = ["LiveTailExtension", "LiveTailExtensionFactory", "factory"]

_log = logging.getLogger(__name__)


class LiveTailExtension:
    """One live bus per process, shared by the ``live_tail`` publisher and the API.

    ``bus``: use this bus instead of building one from ``host.redis`` (tests).
    """

    type_name = "live_tail"

    def __init__(self, config: LiveTailConfig, *, bus: LiveBus | None = None) -> None:
        self.config = config
        self._bus = bus
        self._ctx: LiveContext | None = None

    @property
    def bus(self) -> LiveBus:
        """The live bus (raises :class:`ConfigError` before the extension started)."""
        if self._bus is None:
            raise ConfigError("the live_tail extension has not started: it has no bus yet")
        return self._bus

    @property
    def ctx(self) -> LiveContext:
        """What the SSE streams share (after :meth:`attach`)."""
        if self._ctx is None:
            raise ConfigError("the live_tail extension has not started")
        return self._ctx

    def default_exporters(self) -> Sequence[ExporterContribution]:
        if not self.config.enabled:
            return ()
        section = {"batch": {"timeout_ms": self.config.publish_linger_ms}}
        return (ExporterContribution(exporter_factory, section),)

    def attach(self, host: Host) -> None:
        """The part of :meth:`start` that needs no I/O: build the bus (unless given), the
        routes and the stream context, and add routes and metrics to ``host``."""
        if self._bus is None:
            self._bus = make_bus(host, self.config)
        self._ctx = LiveContext(self._bus, host.history_store, self.config)
        guards = make_guards(self._ctx, host.auth, host.authenticator)
        host.add_router(build_router(self._ctx, host.auth, host.authenticator, guards))
        host.add_router(build_web_router(first_tail(guards, self._ctx, FIRST_TAIL_LINES)))
        host.add_metrics(metrics.REGISTRY)

    async def start(self, host: Host) -> None:
        self.attach(host)
        try:
            await self.bus.start()
        except (RedisError, OSError) as exc:
            # Not fatal, like the ingest queue: publishes are counted as dropped until
            # Redis answers, and every stream that opens starts the bus again.
            _log.warning("live bus: Redis does not answer yet (%s); retrying on use", exc)

    def draining(self) -> None:
        """Open SSE streams get ``retry:`` and close, so the API stops at once."""
        if self._ctx is not None:
            self._ctx.shutdown()

    async def shutdown(self) -> None:
        self.draining()
        if self._bus is not None:
            await self._bus.close()


def make_bus(host: Host, config: LiveTailConfig) -> LiveBus:
    """Redis Streams when the host has ``redis:``, else the in-process bus."""
    if host.redis is not None:
        return RedisBus(
            host.redis.url,
            key_prefix=host.redis.key_prefix,
            cluster=host.redis.cluster,
            maxlen=config.stream_maxlen,
            max_age_s=config.stream_max_age_s,
        )
    return MemoryBus(config.stream_maxlen, config.stream_max_age_s, key_prefix="tasklogs")


class LiveTailExtensionFactory:
    type_name = "live_tail"
    config_model: type[BaseModel] = LiveTailConfig

    def create(self, config: BaseModel, context: ExtensionContext) -> LiveTailExtension:
        assert isinstance(config, LiveTailConfig)
        return LiveTailExtension(config)


factory = LiveTailExtensionFactory()
