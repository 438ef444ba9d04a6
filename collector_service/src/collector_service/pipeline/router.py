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
        A best-effort runner (the live tail) whose queue is full skips the entry (counted)
        rather than refuse it. An entry larger than a queue's whole capacity is taken
        when that queue is empty (:meth:`ExporterRunner.fits`), so a refusal is always
        one that a retry can overcome. Raises :class:`BackpressureError` past a durable bound and
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
        takers: list[ExporterRunner] = []
        skipped: list[ExporterRunner] = []
        for runner in self.runners:
            if runner.fits(entry.records):
                takers.append(runner)
            elif runner.best_effort:  # the live tail: skipped for it alone, never refused
                skipped.append(runner)
            else:
                self.refused_records += entry.records
                raise BackpressureError(
                    f"exporter {runner.component_id} queue is full "
                    f"({runner.pending}/{runner.capacity} records queued, this request "
                    f"has {entry.records}; retry when it drains)",
                    retry_after=1.0,
                )
        for runner in skipped:
            runner.skip(entry)
        if len(takers) > 1:
            entry.consumers = len(takers)
            entry.shared = self.decode
        for runner in takers:
            runner.offer(entry)
        self.accepted_records += entry.records
