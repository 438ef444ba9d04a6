"""The pipeline between receivers and exporters.

:class:`ExporterHandle` is the one shared exporter wrapper (the Collector's
"exporterhelper" minus the queue): every exporter call runs on the handle's single worker
thread (exporters never see concurrent calls and the event loop never blocks on a
database), each push has a timeout, retryable failures are retried with jittered
exponential backoff for at most ``max_elapsed_time_s``, and a batch that cannot be written
(permanent error, or retries exhausted) is counted and handed to the dead-letter store.
Both queues use it: the in-process :class:`ExporterRunner` below and the Redis stream
consumers of :mod:`collector_service.worker`.

:class:`ExporterRunner` is the embedded default: a bounded in-memory queue counted in
records, batching by size and time, and a drain on shutdown.

:class:`Pipeline` is what receivers call. Without Redis it fans each accepted request out
to every runner, refusing the whole request with
:class:`~collector_service.errors.BackpressureError` when any runner lacks room; with a
durable ingest (:class:`~collector_service.redis_ingest.RedisIngest`) it returns only
once the request is in the Redis stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from collector_service import metrics
from collector_service._shared_decode import SharedDecode
from collector_service.config import ExporterHelperConfig
from collector_service.decode import decode_request
from collector_service.errors import BackpressureError, PermanentExportError
from collector_service.exporter import Exporter
from collector_service.model import LogBatch

if TYPE_CHECKING:
    from collections.abc import Callable

    from collector_service.deadletter import DeadLetter

__all__ = [
    "DurableIngest",
    "ExporterHandle",
    "ExporterRunner",
    "IngestEntry",
    "Outcome",
    "Pipeline",
    "RunnerStats",
]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")


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
    #: How many in-process runners take this entry (set by :class:`Pipeline`); with more
    #: than one, :attr:`shared` decodes it once for all of them.
    consumers: int = 1
    shared: SharedDecode | None = None
    decoded: LogBatch | None = None
    taken: int = 0

    def raw(self) -> bytes:
        """The binary request (serialized again only if the receiver did not keep it)."""
        return self.payload or bytes(self.request.SerializeToString())


@dataclass(slots=True)
class RunnerStats:
    sent_records: int = 0
    failed_records: int = 0
    dead_lettered: int = 0
    dropped_on_shutdown: int = 0
    retries: int = 0


class Outcome(enum.Enum):
    """How a push through :meth:`ExporterHandle.push` ended."""

    SENT = "sent"
    #: Not written and never will be (permanent error, or retries exhausted).
    FAILED = "failed"
    #: Not written because the caller is stopping (its batch stays in the durable queue).
    ABANDONED = "abandoned"


class ExporterHandle:
    """One exporter behind the shared timeout/retry wrapper, on its own worker thread."""

    def __init__(
        self,
        component_id: str,
        exporter: Exporter,
        helper: ExporterHelperConfig,
        dead_letter: DeadLetter | None = None,
    ) -> None:
        self.component_id = component_id
        self.exporter = exporter
        self.helper = helper
        self.dead_letter = dead_letter
        self.stats = RunnerStats()
        #: Why the last failed push failed (kept with dead letters).
        self.last_error = ""
        #: Set while the destination refuses writes (a push failed with a non-permanent
        #: error and no push has succeeded since): the service is then not ready.
        self.failing: str | None = None
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"exporter-{component_id}"
        )

    async def call(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` on the exporter's thread (decoding too, so the loop stays free)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def start(self) -> None:
        await self.call(self.exporter.start)

    async def push(self, batch: LogBatch, *, stop: asyncio.Event | None = None) -> Outcome:
        """Write ``batch``: timeout per attempt, jittered backoff, bounded total time.

        Never raises for exporter errors: a batch that cannot be written is counted as
        failed and the caller dead-letters it. When ``stop`` is set while waiting to
        retry, the push is abandoned (the durable queue keeps the batch for a successor).
        """
        retry = self.helper.retry_on_failure
        labels = metrics.EXPORTER_SENT.labels(self.component_id)
        count = len(batch)
        started = time.monotonic()
        delay = retry.initial_interval_ms / 1000
        metrics.BATCH_SEND_SIZE.labels(self.component_id).observe(count)
        while True:
            try:
                await asyncio.wait_for(
                    self.call(lambda: self.exporter.push(batch)), self.helper.timeout
                )
            except PermanentExportError as exc:
                self.last_error = f"permanent error: {exc}"
                _log.error(
                    "exporter %s: permanent failure for %d records: %s",
                    self.component_id,
                    count,
                    exc,
                )
                return self._failed(count)
            except Exception as exc:  # noqa: BLE001 - unknown errors are retried, then counted
                self.failing = f"exporter {self.component_id} cannot write: {exc!r}"
                elapsed = time.monotonic() - started
                if not retry.enabled or elapsed + delay > retry.max_elapsed_time_s:
                    self.last_error = f"retries exhausted after {elapsed:.1f}s: {exc!r}"
                    _log.error(
                        "exporter %s: giving up after %.1fs on %d records: %r",
                        self.component_id,
                        elapsed,
                        count,
                        exc,
                    )
                    return self._failed(count)
                self.stats.retries += 1
                metrics.EXPORTER_RETRIES.labels(self.component_id).inc()
                _log.warning(
                    "exporter %s: push failed (%r); retrying in %.2fs",
                    self.component_id,
                    exc,
                    delay,
                )
                await _sleep(delay * random.uniform(0.5, 1.5), stop)  # noqa: S311 - jitter
                if stop is not None and stop.is_set():
                    return Outcome.ABANDONED
                delay = min(delay * 2, retry.max_interval_ms / 1000)
            else:
                self.failing = None
                self.stats.sent_records += count
                labels.inc(count)
                return Outcome.SENT

    def _failed(self, count: int) -> Outcome:
        self.stats.failed_records += count
        metrics.EXPORTER_SEND_FAILED.labels(self.component_id).inc(count)
        return Outcome.FAILED

    async def keep(self, payloads: list[tuple[bytes, str | None, int]], reason: str) -> None:
        """Dead-letter raw requests ``(payload, tenant, records)`` that could not be written."""
        records = sum(n for _, _, n in payloads)
        if self.dead_letter is None:
            _log.error(
                "exporter %s: %d records dropped (no dead-letter store): %s",
                self.component_id,
                records,
                reason,
            )
            return
        await self.dead_letter.put(self.component_id, payloads, reason)
        self.stats.dead_lettered += records
        metrics.EXPORTER_DEAD_LETTERED.labels(self.component_id).inc(records)

    async def stop(self) -> None:
        try:
            await self.call(self.exporter.shutdown)
        except Exception:  # noqa: BLE001 - shutdown continues with the next exporter
            _log.exception("exporter %s: shutdown failed", self.component_id)
        self._executor.shutdown(wait=False, cancel_futures=True)


async def _sleep(seconds: float, stop: asyncio.Event | None) -> None:
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


class ExporterRunner:
    """The in-process queue: bounded, batching by size and time, around one exporter."""

    def __init__(
        self,
        component_id: str,
        exporter: Exporter,
        helper: ExporterHelperConfig,
        dead_letter: DeadLetter | None = None,
    ) -> None:
        self.component_id = component_id
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
