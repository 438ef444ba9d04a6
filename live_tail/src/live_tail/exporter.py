"""The ``live_tail`` exporter: publishes every batch to the live bus.

It is an ordinary exporter plugin behind the shared pipeline wrapper (queue, batch,
retry), with no linger by default so the bus sees lines within milliseconds. It publishes one
bus entry per task run per batch, to the bus of the ``live_tail`` extension of the same
process (``context.host.extension("live_tail")``: Redis Streams, or the in-process bus
its API reads). It is best effort (:attr:`LiveTailFactory.best_effort`): the stores are
the record, and a line the bus refuses is counted, never retried.
"""

from __future__ import annotations

import logging
import time

from pydantic import BaseModel, ConfigDict

from collector_service.component.exporter import ExporterContext
from collector_service.component.model import LogBatch
from collector_service.errors import ConfigError
from live_tail.bus import LiveBus
from live_tail.metrics import LIVE_PUBLISH_DROPPED
from live_tail.model import chunks_from_batch

__all__ = ["LiveTailExporter", "LiveTailExporterConfig", "LiveTailFactory", "factory"]

_log = logging.getLogger(__name__)


class LiveTailExporterConfig(BaseModel):
    """``exporters.live_tail``: nothing of its own; the bus comes from ``redis:``."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LiveTailExporter:
    def __init__(self, bus: LiveBus, component_id: str) -> None:
        self._bus = bus
        self.component_id = component_id
        #: Lines the bus refused (e.g. Redis down): never retried, never blocking.
        self.dropped = 0
        self._warned = -10.0

    def start(self) -> None:
        return None

    def push(self, batch: LogBatch) -> None:
        chunks = chunks_from_batch(batch)
        try:
            self._bus.publish(chunks)
        except Exception as exc:  # noqa: BLE001 - see below
            # The stores are the record; the live bus must never hold up ingestion (a
            # retried or queued publish would, through the pipeline's backpressure).
            # Lines lost here are backfilled from the store when a client resumes.
            self.dropped += len(batch)
            LIVE_PUBLISH_DROPPED.inc(len(batch))
            now = time.monotonic()
            if now - self._warned >= 10:
                self._warned = now
                _log.warning(
                    "live bus publish failed (%r); %d lines not published so far", exc, self.dropped
                )

    def shutdown(self) -> None:
        return None


class LiveTailFactory:
    type_name = "live_tail"
    best_effort = True  # never makes receivers refuse (ExporterSpec.best_effort)
    config_model: type[BaseModel] = LiveTailExporterConfig
    #: Not a record of the logs: queues may leave it out of their backlog bound.

    def create(self, config: BaseModel, context: ExporterContext) -> LiveTailExporter:
        """An exporter publishing to the ``live_tail`` extension's bus."""
        from live_tail.extension import LiveTailExtension

        extension = context.host.extension("live_tail") if context.host is not None else None
        if not isinstance(extension, LiveTailExtension):
            raise ConfigError(
                f"exporters.{context.component_id}: the live_tail exporter needs the "
                "live_tail extension running in this process (is tasklogs-live-tail "
                "installed, and the exporter created by a service?)"
            )
        return LiveTailExporter(extension.bus, context.component_id)


factory = LiveTailFactory()
