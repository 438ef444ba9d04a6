"""The in-process queue of one exporter: bounded, batching by size and time, drained on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import TYPE_CHECKING

from collector_service import metrics
from collector_service.component.decode import decode_request
from collector_service.component.exporter import Exporter
from collector_service.component.model import LogBatch
from collector_service.pipeline.config import ExporterHelperConfig
from collector_service.pipeline.entry import IngestEntry
from collector_service.pipeline.helper import ExporterHandle, Outcome, RunnerStats
from collector_service.pipeline.skipped import EXPORTER_SKIPPED

if TYPE_CHECKING:
    from collector_service.pipeline.deadletter import DeadLetter

__all__ = ["ExporterRunner"]

_log = logging.getLogger(__name__)


class ExporterRunner:
    """The in-process queue: bounded, batching by size and time, around one exporter."""

    def __init__(
        self,
        component_id: str,
        exporter: Exporter,
        helper: ExporterHelperConfig,
        dead_letter: DeadLetter | None = None,
        *,
        best_effort: bool = False,
    ) -> None:
        self.component_id = component_id
        #: A full queue skips requests for this runner alone instead of refusing them
        #: (``ExporterSpec.best_effort``: the live tail); see :meth:`skip`.
        self.best_effort = best_effort
        self.exporter = exporter
        self.handle = ExporterHandle(component_id, exporter, helper, dead_letter)
        self._helper = helper
        self._capacity = helper.sending_queue.queue_size
        self._queue: deque[IngestEntry] = deque()
        self._pending = 0  # records queued or being pushed
        self._queued = 0  # records queued, not yet taken into a batch
        self._wakeup = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        metrics.EXPORTER_QUEUE_CAPACITY.labels(component_id).set(self._capacity)

    @property
    def stats(self) -> RunnerStats:
        return self.handle.stats

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def pending(self) -> int:
        return self._pending

    def room(self) -> int:
        return self._capacity - self._pending

    def fits(self, records: int) -> bool:
        """Whether an entry of ``records`` may be queued now.

        One that fits the room left, or any entry when the queue is empty: a request
        larger than the whole ``queue_size`` is taken alone (the bound is then that one
        request, itself bounded by the receiver's size limits) rather than refused
        forever. So a refusal for a full queue is only ever sent when a retry can succeed.
        """
        return self._pending == 0 or self.room() >= records

    async def start(self) -> None:
        """Start the exporter (may do I/O and raise) and the worker loop."""
        await self.handle.start()
        self._task = asyncio.create_task(self._run(), name=f"runner-{self.component_id}")

    def offer(self, entry: IngestEntry) -> None:
        """Queue an entry; the caller has checked :meth:`room` (see :class:`Pipeline`)."""
        self._queue.append(entry)
        self._pending += entry.records
        self._queued += entry.records
        metrics.EXPORTER_QUEUE_SIZE.labels(self.component_id).set(self._pending)
        self._wakeup.set()

    def skip(self, entry: IngestEntry) -> None:
        """Count ``entry`` as skipped: a best-effort runner's queue had no room for it."""
        self.stats.skipped_records += entry.records
        EXPORTER_SKIPPED.labels(self.component_id).inc(entry.records)

    async def _wait(self, timeout: float | None) -> None:
        self._wakeup.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout)

    async def _run(self) -> None:
        max_batch = self._helper.batch.send_batch_max_size
        linger = self._helper.batch.timeout_ms / 1000
        while True:
            if not self._queue:
                if self._closing:
                    return
                await self._wait(None)
                continue
            # Linger from when the oldest entry arrived: entries that queued up during
            # the previous push have waited already.
            deadline = self._queue[0].received_monotonic + linger
            while not self._closing and self._queued < max_batch:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                await self._wait(left)
            entries = [self._queue.popleft()]
            count = entries[0].records
            while self._queue and count + self._queue[0].records <= max_batch:
                entry = self._queue.popleft()
                entries.append(entry)
                count += entry.records
            self._queued -= count
            try:
                await self._export(entries, count)
            finally:
                self._pending -= count
                metrics.EXPORTER_QUEUE_SIZE.labels(self.component_id).set(self._pending)

    @staticmethod
    def _decode(entries: list[IngestEntry]) -> LogBatch:
        """Decode once per entry, not once per runner (:mod:`._shared_decode`)."""
        batch = LogBatch()
        for entry in entries:
            if entry.shared is None:
                decode_request(entry.request, batch, entry.tenant)
            else:
                batch.extend(entry.shared.take(entry))
        return batch

    async def _export(self, entries: list[IngestEntry], count: int) -> None:
        try:
            batch = await self.handle.call(lambda: self._decode(entries))
            outcome = await self.handle.push(batch)
            reason = f"export failed: {self.handle.last_error}"
        except Exception as exc:  # noqa: BLE001 - a bad batch must not stop the runner
            _log.exception("exporter %s: could not decode %d records", self.component_id, count)
            self.handle._failed(count)
            outcome, reason = Outcome.FAILED, f"decode failed: {exc}"
        if outcome is Outcome.FAILED:
            await self.handle.keep([(e.raw(), e.tenant, e.records) for e in entries], reason)
            return
        now = time.time_ns()
        lag = metrics.EXPORTER_LAG.labels(self.component_id)
        for entry in entries:
            lag.observe((now - entry.received_ns) / 1e9)

    async def stop(self, timeout: float) -> None:
        """Drain what is queued within ``timeout`` seconds, then shut the exporter down."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except TimeoutError:
                self._task.cancel()
                self.stats.dropped_on_shutdown += self._pending
                _log.error(
                    "exporter %s: drain timed out after %.1fs; %d records not exported",
                    self.component_id,
                    timeout,
                    self._pending,
                )
        await self.handle.stop()
