"""What receivers call: the in-process consumers, or the durable queue."""

from __future__ import annotations

from typing import Protocol

from collector_service.errors import BackpressureError
from collector_service.pipeline.entry import IngestEntry
from collector_service.pipeline.memory import ExporterRunner
from collector_service.pipeline.shared_decode import SharedDecode

__all__ = ["DurableIngest", "Pipeline"]


class DurableIngest(Protocol):
    """A durable hand-off: ``submit`` returns once the entry survives a process crash."""

    async def submit(self, entry: IngestEntry) -> None: ...


class Pipeline:
    """What receivers call: in-process runners, or the durable Redis ingest stream."""

    def __init__(self, runners: list[ExporterRunner], durable: DurableIngest | None = None) -> None:
        self.runners = runners
        self.durable = durable
        self.decode = SharedDecode()
        self.accepted_records = 0
        self.refused_records = 0

    async def submit(self, entry: IngestEntry) -> None:
        """Accept ``entry`` for every exporter, or refuse it whole.

        Returns once the entry is as safe as this pipeline makes it (queued in memory
        here; in the durable Redis stream there): the receiver acknowledges after that.
        Raises :class:`BackpressureError` past the bound and
        :class:`~collector_service.errors.UnavailableError` when Redis is unreachable.
        """
        if self.durable is not None:
            try:
                await self.durable.submit(entry)
            except BackpressureError:
                self.refused_records += entry.records
                raise
            self.accepted_records += entry.records
            return
        for runner in self.runners:
            if runner.room() < entry.records:
                self.refused_records += entry.records
                raise BackpressureError(
                    f"exporter {runner.component_id} queue is full "
                    f"({runner.pending}/{runner.capacity} records)",
                    retry_after=1.0,
                )
        if len(self.runners) > 1:
            entry.consumers = len(self.runners)
            entry.shared = self.decode
        for runner in self.runners:
            runner.offer(entry)
        self.accepted_records += entry.records
