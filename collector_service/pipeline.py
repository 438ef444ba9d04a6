"""The pipeline between receivers and exporters.

:class:`ExporterRunner` is the shared exporter wrapper (the Collector's "exporterhelper"):
a bounded queue counted in records, batching by size and time, retry with jittered
exponential backoff, a timeout per push, and a drain on shutdown. Every exporter call
runs on the runner's single worker thread, so exporters never see concurrent calls and
the event loop (receivers, API) never blocks on a database.

:class:`Pipeline` fans each accepted request out to every runner, refusing the whole
request with :class:`~collector_service.errors.BackpressureError` when any runner lacks
room, so nothing is accepted that a queue cannot hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from collector_service.config import ExporterHelperConfig
from collector_service.decode import decode_request
from collector_service.errors import BackpressureError, PermanentExportError
from collector_service.exporter import Exporter
from collector_service.model import LogBatch

__all__ = ["ExporterRunner", "IngestEntry", "Pipeline", "RunnerStats"]

_log = logging.getLogger(__name__)


@dataclass(slots=True)
class IngestEntry:
    """One accepted Export request, as it travels from a receiver to the exporters."""

    request: ExportLogsServiceRequest
    records: int
    #: The request as binary protobuf, as received (what a durable queue stores).
    payload: bytes = b""
    #: The tenant of the request's bearer token; stamped on every record when decoded.
    tenant: str | None = None
    #: Wall-clock arrival (for end-to-end lag); batching uses the monotonic one.
    received_ns: int = field(default_factory=time.time_ns)
    received_monotonic: float = field(default_factory=time.monotonic)


@dataclass(slots=True)
class RunnerStats:
    sent_records: int = 0
    failed_records: int = 0
    dropped_on_shutdown: int = 0
    retries: int = 0


class ExporterRunner:
    """Queue, batch, retry and timeout around one exporter."""

    def __init__(self, component_id: str, exporter: Exporter, helper: ExporterHelperConfig) -> None:
        self.component_id = component_id
        self.exporter = exporter
        self._helper = helper
        self._capacity = helper.sending_queue.queue_size
        self._queue: deque[IngestEntry] = deque()
        self._pending = 0  # records queued or being pushed
        self._queued = 0  # records queued, not yet taken into a batch
        self._wakeup = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"exporter-{component_id}"
        )
        self.stats = RunnerStats()

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def pending(self) -> int:
        return self._pending

    def room(self) -> int:
        return self._capacity - self._pending

    async def start(self) -> None:
        """Start the exporter (may do I/O and raise) and the worker loop."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self.exporter.start)
        self._task = asyncio.create_task(self._run(), name=f"runner-{self.component_id}")

    def offer(self, entry: IngestEntry) -> None:
        """Queue an entry; the caller has checked :meth:`room` (see :class:`Pipeline`)."""
        self._queue.append(entry)
        self._pending += entry.records
        self._queued += entry.records
        self._wakeup.set()

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

    def _decode(self, entries: list[IngestEntry]) -> LogBatch:
        batch = LogBatch()
        for entry in entries:
            decode_request(entry.request, batch, entry.tenant)
        return batch

    async def _export(self, entries: list[IngestEntry], count: int) -> None:
        loop = asyncio.get_running_loop()
        retry = self._helper.retry_on_failure
        started = time.monotonic()
        delay = retry.initial_interval_ms / 1000
        try:
            batch = await loop.run_in_executor(self._executor, self._decode, entries)
        except Exception:  # noqa: BLE001 - a bad batch must not stop the runner
            _log.exception(
                "exporter %s: could not decode %d records; dropped", self.component_id, count
            )
            self.stats.failed_records += count
            return
        while True:
            try:
                await asyncio.wait_for(
                    loop.run_in_executor(self._executor, self.exporter.push, batch),
                    self._helper.timeout,
                )
            except PermanentExportError as exc:
                _log.error(
                    "exporter %s: permanent failure, %d records dropped: %s",
                    self.component_id,
                    count,
                    exc,
                )
                self.stats.failed_records += count
                return
            except Exception as exc:  # noqa: BLE001 - unknown errors are retried, then counted
                elapsed = time.monotonic() - started
                if not retry.enabled or elapsed + delay > retry.max_elapsed_time_s:
                    _log.error(
                        "exporter %s: giving up after %.1fs, %d records dropped: %r",
                        self.component_id,
                        elapsed,
                        count,
                        exc,
                    )
                    self.stats.failed_records += count
                    return
                self.stats.retries += 1
                _log.warning(
                    "exporter %s: push failed (%r); retrying in %.2fs",
                    self.component_id,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay * random.uniform(0.5, 1.5))  # noqa: S311 - jitter
                delay = min(delay * 2, retry.max_interval_ms / 1000)
            else:
                self.stats.sent_records += count
                return

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
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self.exporter.shutdown)
        except Exception:  # noqa: BLE001 - shutdown continues with the next exporter
            _log.exception("exporter %s: shutdown failed", self.component_id)
        self._executor.shutdown(wait=False, cancel_futures=True)


class Pipeline:
    """Fans accepted requests out to every exporter runner."""

    def __init__(self, runners: list[ExporterRunner]) -> None:
        self.runners = runners
        self.accepted_records = 0
        self.refused_records = 0

    async def submit(self, entry: IngestEntry) -> None:
        """Accept ``entry`` for every runner, or refuse it whole with BackpressureError.

        Returns once the entry is as safe as this pipeline makes it (queued in memory
        here; in the durable Redis stream there): the receiver acknowledges after that.
        """
        for runner in self.runners:
            if runner.room() < entry.records:
                self.refused_records += entry.records
                raise BackpressureError(
                    f"exporter {runner.component_id} queue is full "
                    f"({runner.pending}/{runner.capacity} records)",
                    retry_after=1.0,
                )
        for runner in self.runners:
            runner.offer(entry)
        self.accepted_records += entry.records
