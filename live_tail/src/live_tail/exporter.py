"""The ``live_tail`` exporter: publishes every batch to the live bus.

It is an ordinary exporter plugin behind the shared pipeline wrapper (queue, batch,
retry), with a low linger so the bus sees lines within milliseconds. It publishes one
bus entry per task run per batch. Which bus: the one :func:`bind_bus` registered in this
process (the service shares its in-process bus with its API), else Redis from the
``redis:`` config the service passes in, else a process-local memory bus that nobody
reads (the exporter then only costs a grouping pass).
"""

from __future__ import annotations

import logging
import time

from pydantic import BaseModel, ConfigDict

from collector_service.component.exporter import ExporterContext
from collector_service.component.model import LogBatch
from collector_service.metrics import LIVE_PUBLISH_DROPPED
from live_tail.bus import LiveBus
from live_tail.model import chunks_from_batch

__all__ = ["LiveTailExporter", "LiveTailExporterConfig", "LiveTailFactory", "bind_bus", "factory"]

_BOUND: dict[str, LiveBus] = {}
_log = logging.getLogger(__name__)


def bind_bus(component_id: str, bus: LiveBus) -> None:
    """Make exporter ``component_id`` publish to ``bus`` (the API's bus in this process)."""
    _BOUND[component_id] = bus


def unbind_bus(component_id: str) -> None:
    _BOUND.pop(component_id, None)


class LiveTailExporterConfig(BaseModel):
    """``exporters.live_tail``: nothing of its own; the bus comes from ``redis:``."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LiveTailExporter:
    def __init__(self, bus: LiveBus | None, component_id: str) -> None:
        self._bus = bus
        self.component_id = component_id
        #: Lines the bus refused (e.g. Redis down): never retried, never blocking.
        self.dropped = 0
        self._warned = -10.0

    def start(self) -> None:
        if self._bus is None:
            self._bus = _BOUND.get(self.component_id)

    def push(self, batch: LogBatch) -> None:
        bus = self._bus or _BOUND.get(self.component_id)
        if bus is None:
            return
        chunks = chunks_from_batch(batch)
        try:
            bus.publish(chunks)
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

    def create(self, config: BaseModel, context: ExporterContext) -> LiveTailExporter:
        return LiveTailExporter(_BOUND.get(context.component_id), context.component_id)


factory = LiveTailFactory()
