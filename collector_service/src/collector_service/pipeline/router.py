"""What receivers call: the in-process consumers, or the durable queue."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from collector_service.errors import BackpressureError, UnavailableError
from collector_service.pipeline.entry import IngestEntry
from collector_service.pipeline.memory import ExporterRunner
from collector_service.pipeline.shared_decode import SharedDecode

__all__ = ["DurableIngest", "Pipeline"]


class DurableIngest(Protocol):
    """A durable hand-off: ``submit`` returns once the entry survives a process crash."""

    async def submit(self, entry: IngestEntry) -> None: ...


class Pipeline:
    """What receivers call: in-process runners, or the durable Redis ingest stream."""

    def __init__(
        self,
        runners: list[ExporterRunner],
        durable: DurableIngest | None = None,
        *,
        store_failing: Callable[[], str | None] | None = None,
    ) -> None:
        self.runners = runners
        self.durable = durable
        #: Why a durable exporter of this process cannot write now (its writes fail, or
        #: its probe says so): requests are refused (retryable) rather than queued
        #: behind it. ``None``: only the in-process runners are asked.
        self.store_failing = store_failing
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
        :class:`~collector_service.errors.UnavailableError` when Redis is unreachable or a
        durable exporter cannot write (disk full, read-only, store down).
        """
        why = self._failing()
        if why is not None:
            self.refused_records += entry.records
            raise UnavailableError(f"the store cannot take writes now: {why}", retry_after=2.0)
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

    def _failing(self) -> str | None:
        if self.store_failing is not None:
            return self.store_failing()
        for runner in self.runners:
            if not runner.best_effort and runner.handle.not_ready is not None:
                return runner.handle.not_ready
        return None
