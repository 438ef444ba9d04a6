"""Delivery: a bounded buffer, one export thread, retry until delivered, a bounded exit.

The task thread's whole share of a record is :meth:`DeliveryProcessor.put`: one tuple of
raw fields (``_wire.Entry``) appended to a deque under the GIL; no lock, no SDK object.
The export thread does the rest, a batch at a time: it numbers the records
(``tasklogs.seq``, in buffer order, one counter update per batch), encodes the batch
straight to OTLP protobuf bytes (``_wire``) and sends them with the exporter.

Why not the SDK's ``BatchLogRecordProcessor``: it gives a batch up once the exporter's
own retries end (a collector restart loses lines), drops silently when its queue is full,
and has no bound on the final flush short of the exporter's full retry schedule. Here:

- records wait at most ``schedule_delay_ms`` (or until a batch is full) before export;
- a failed export is retried, with backoff capped at 5 s, for as long as the task runs:
  the buffer (``max_queue_size`` records) absorbs the outage, and once it is full new
  records are dropped *and counted* (:attr:`dropped`, reported in the end record), and
  each drop leaves a gap in ``tasklogs.seq`` where it happened (numbers are skipped);
- :meth:`shutdown` flushes for at most ``flush_timeout_s``, then aborts the exporter and
  reports on stderr how many records could not be delivered and why;
- a forked child gets a fresh buffer, thread and exporter (the parent's records are
  numbered before the fork and are the parent's to send).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Final

from opentelemetry._logs import SeverityNumber
from opentelemetry.context import Context
from opentelemetry.sdk._logs import LogRecordProcessor, ReadableLogRecord, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otel_sdk_ext import semconv
from otel_sdk_ext._exporters import EncodedExporter
from otel_sdk_ext._seq import SeqCounter
from otel_sdk_ext._wire import Entry, RequestEncoder, SdkRecords

__all__ = ["DeliveryProcessor", "ExporterErrors"]

_MAX_BACKOFF_S: Final = 5.0
_EMPTY_RESOURCE: Final = Resource.get_empty()
#: Lifecycle records are queued even when the buffer is full: the end record is where
#: the drops are reported, and there are only two per task run.
_KEEP_EVENTS: Final = frozenset({semconv.EVENT_TASK_START, semconv.EVENT_TASK_END})
_FIRST_BACKOFF_S: Final = 0.2
_MAX_BATCHES_PER_REQUEST: Final = 8

#: The stock exporters log their failures here.
EXPORTER_LOGGER: Final = "opentelemetry.exporter"

Item = Entry | ReadableLogRecord


class _Gap:
    """Stands in the buffer for records dropped there: their numbers are skipped."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 1


class ExporterErrors(logging.Handler):
    """Keeps the last warning/error the stock exporters logged, for the exit report.

    Installed on the ``opentelemetry.exporter`` logger with ``propagate`` off while a
    task is configured: those messages must not reach the root logger (our handler, or
    a StreamHandler on a captured stderr) and come back as records about failing to send
    records. What they say is summarised on stderr at exit instead.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.last: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.last = record.getMessage()


class DeliveryProcessor(LogRecordProcessor):
    """Buffer + export thread for one resource; numbers records from ``counter``."""

    def __init__(
        self,
        exporter_factory: Callable[[], LogRecordExporter],
        *,
        resource: Resource | None = None,
        counter: SeqCounter | None = None,
        schedule_delay_ms: int = 25,
        max_queue_size: int = 65536,
        max_export_batch_size: int = 512,
        flush_timeout_s: float = 5.0,
        describe_target: str = "the collector",
        report: Callable[[str], None] | None = None,
        errors: ExporterErrors | None = None,
    ) -> None:
        self._factory = exporter_factory
        self._resource = resource if resource is not None else _EMPTY_RESOURCE
        self._counter = counter if counter is not None else SeqCounter()
        self._encoder = RequestEncoder(self._resource)
        self._sdk_records = SdkRecords(self._resource)
        self._delay_s = schedule_delay_ms / 1000
        self._max_queue = max_queue_size
        self._max_batch = max_export_batch_size
        self._flush_timeout_s = flush_timeout_s
        self._target = describe_target
        self._report = report
        self._errors = errors
        self._left_behind: list[LogRecordExporter] = []
        self._fork_locked = False
        self._init_state(self._factory())

    def _init_state(self, exporter: LogRecordExporter) -> None:
        self._exporter = exporter
        self._queue: deque[Item] = deque()
        #: Records taken from the queue and not yet delivered (numbered or in flight).
        self._held = 0
        self._numbered: deque[tuple[int, list[Item]]] = deque()
        self._stamp_lock = threading.Lock()
        self._wake = threading.Event()
        self._wake_pending = False
        self._abandon = threading.Event()
        self._cv = threading.Condition(threading.Lock())
        self._in_flight = 0
        self._worker: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._stopping = False
        self._stopped = False
        self._failing_since: float | None = None
        self._last_exception: str | None = None
        #: Records refused because the buffer was full (this process).
        self.dropped = 0
        self._gaps = 0  # drops whose numbers are already skipped
        #: Records given up at shutdown (collector unreachable past the flush timeout).
        self.undelivered = 0
        #: Records the exporter accepted (this process).
        self.delivered = 0

    # -- the task thread's side ------------------------------------------------------------

    def put(self, entry: Item) -> None:
        """Buffer one record (an :data:`Entry`, or a record the SDK made)."""
        queue: deque[Any] = self._queue
        if len(queue) + self._held >= self._max_queue or self._stopped:
            if self._stopped:
                self.dropped += 1
                return
            if entry.__class__ is not tuple or entry[8] not in _KEEP_EVENTS:
                tail: Any = queue[-1] if queue else None
                if tail.__class__ is _Gap:
                    tail.count += 1
                else:  # at most one marker per run of drops: the bound holds
                    queue.append(_Gap())
                self.dropped += 1
                return
        queue.append(entry)
        if self._worker is None:
            self._start_worker()
        if len(queue) >= self._max_batch and not self._wake_pending:
            self._wake_pending = True
            self._wake.set()

    @property
    def last_seq(self) -> int:
        """The last ``tasklogs.seq`` used, once every buffered record is numbered."""
        with self._stamp_lock:
            self._number_pending()
        return self._counter.last

    # -- LogRecordProcessor ----------------------------------------------------------------

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        # Records the SDK made (it cleaned odd attribute values): the frozen form.
        self.put(
            ReadableLogRecord(
                log_record=log_record.log_record,
                resource=log_record.resource or self._resource,
                instrumentation_scope=log_record.instrumentation_scope,
                limits=log_record.limits,
            )
        )

    def enabled(
        self,
        *,
        context: Context | None = None,
        instrumentation_scope: InstrumentationScope | None = None,
        severity_number: SeverityNumber | None = None,
        event_name: str | None = None,
    ) -> bool:
        return not self._stopped

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export everything buffered so far; False if that took longer than the timeout."""
        if self._stopped or self._worker is None:
            return not self._queue
        deadline = time.monotonic() + timeout_millis / 1000
        self._wake.set()
        with self._cv:
            while self._queue or self._held:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._wake.set()
                self._cv.wait(min(remaining, 0.05))
        return True

    def shutdown(self) -> None:
        """Flush for at most ``flush_timeout_s``, then stop; report what was not sent."""
        if self._stopped:
            return
        self._stopping = True
        worker = self._worker
        cause: str | None = None
        if worker is not None:
            self._wake.set()
            worker.join(self._flush_timeout_s)
            if worker.is_alive():
                # Why delivery failed, before the abort below: after it the exporter only
                # says "already shutdown", which is not the cause (e.g. a full backlog).
                cause = self._reason()
                self._abandon.set()
                with contextlib.suppress(Exception):
                    self._exporter.shutdown()  # type: ignore[no-untyped-call]  # aborts its retry wait
                worker.join(2.0)
        self._stopped = True
        with self._cv:
            stranded = len(self._queue) + self._held
            self._queue.clear()
            self._numbered.clear()
            self._held = 0
        self.undelivered += stranded
        if worker is None or not worker.is_alive():
            with contextlib.suppress(Exception):
                self._exporter.shutdown()  # type: ignore[no-untyped-call]
        self._report_losses(cause)

    # -- fork -------------------------------------------------------------------------

    def before_fork(self) -> None:
        """Number what is buffered and share the counter; a fork from inside a stamp
        (2 s timeout) goes on without the lock rather than hanging."""
        self._fork_locked = self._stamp_lock.acquire(timeout=2.0)
        if self._fork_locked:
            self._number_pending()
        self._counter.share()

    def after_fork_in_parent(self) -> None:
        if self._fork_locked:
            self._fork_locked = False
            self._stamp_lock.release()

    def after_fork_in_child(self) -> None:
        """Fresh buffer, thread and exporter: only the child's own records from here."""
        # The parent's exporter (a gRPC channel) must not be used or closed here; keep
        # it referenced so its finaliser does not run in the child either.
        self._fork_locked = False
        self._left_behind.append(self._exporter)
        self._init_state(self._factory())

    # -- internals --------------------------------------------------------------------

    @property
    def failing(self) -> bool:
        """True while exports fail (the collector is unreachable or refuses)."""
        return self._failing_since is not None

    def _number_pending(self) -> None:
        """Move buffered records to numbered batches. Caller holds the stamp lock."""
        queue = self._queue
        take = self._counter.take_many
        while queue:
            batch: list[Item] = []
            # A backlog goes out in bigger requests (up to 8 batches): fewer hand-offs of
            # the GIL between the task and this thread per record while catching up.
            size = self._max_batch
            if len(queue) > 4 * size:
                size = min(len(queue) // 4, _MAX_BATCHES_PER_REQUEST * size)
            for _ in range(min(len(queue), size)):
                item: Any = queue.popleft()
                if item.__class__ is _Gap:  # dropped here: skip their numbers, in order
                    if batch:
                        self._held += len(batch)
                        self._numbered.append((take(len(batch)), batch))
                        batch = []
                    self._gaps += item.count
                    take(item.count)
                else:
                    batch.append(item)
            if batch:
                self._held += len(batch)
                self._numbered.append((take(len(batch)), batch))
        missing = self.dropped - self._gaps
        if missing > 0:  # a marker changed after it was taken (a race): skip them now
            self._gaps += missing
            take(missing)

    def _start_worker(self) -> None:
        # Not blocking: a signal handler that logs while its own thread is starting the
        # worker must not deadlock (the outer call finishes the start).
        if not self._start_lock.acquire(blocking=False):
            return
        try:
            if self._worker is not None:
                return
            worker = threading.Thread(target=self._run, name="tasklogs-export", daemon=True)
            worker.start()
            self._worker = worker
        finally:
            self._start_lock.release()

    def _run(self) -> None:
        while True:
            self._wake.wait(self._delay_s)
            self._wake.clear()
            self._wake_pending = False
            self._drain()
            if self._stopping and not self._queue:
                return
            if self._abandon.is_set():
                return

    def _drain(self) -> None:
        while not self._abandon.is_set():
            with self._stamp_lock:
                self._number_pending()
                if not self._numbered:
                    return
                first, batch = self._numbered.popleft()
            self._in_flight = len(batch)
            try:
                self._deliver(first, batch)
            finally:
                with self._stamp_lock:
                    self._held -= len(batch)
                with self._cv:
                    self._in_flight = 0
                    self._cv.notify_all()

    def _deliver(self, first: int, batch: list[Item]) -> None:
        exporter = self._exporter
        payload: bytes | None = None
        records: Sequence[ReadableLogRecord] = ()
        try:
            if isinstance(exporter, EncodedExporter):
                payload = self._encoder.encode(batch, first)
            else:
                records = self._sdk_records.build(batch, first)
        except Exception:  # a batch that cannot be encoded is lost, and counted
            logging.getLogger(__name__).exception("could not encode a batch of records")
            self.undelivered += len(batch)
            return
        backoff = _FIRST_BACKOFF_S
        while True:
            if self._abandon.is_set():
                self.undelivered += len(batch)
                return
            try:
                if payload is not None:
                    result = exporter.export_encoded(payload, len(batch))  # type: ignore[attr-defined]
                else:
                    result = exporter.export(records)
            except Exception as exc:  # noqa: BLE001 - exporters must not raise; retry
                self._last_exception = f"{type(exc).__name__}: {exc}"
                result = LogRecordExportResult.FAILURE
            if result == LogRecordExportResult.SUCCESS:
                self.delivered += len(batch)
                if self._failing_since is not None:
                    self._failing_since = None
                    self._say(f"tasklogs: delivery to {self._target} resumed")
                return
            if self._failing_since is None:
                self._failing_since = time.monotonic()
                self._say(
                    f"tasklogs: cannot deliver logs to {self._target} ({self._reason()}); "
                    "buffering and retrying"
                )
            if self._abandon.wait(backoff):
                continue
            backoff = min(backoff * 2, _MAX_BACKOFF_S)

    def _reason(self) -> str:
        last = self._errors.last if self._errors is not None else None
        if last is not None and "already shutdown" in last.lower():
            last = None  # our own abort at shutdown, never the cause
        return self._last_exception or last or "export failed"

    def _report_losses(self, cause: str | None = None) -> None:
        parts = []
        if self.undelivered:
            parts.append(
                f"{self.undelivered} log records could not be delivered to {self._target} "
                f"within the {self._flush_timeout_s:g} s flush timeout "
                f"({cause or self._reason()})"
            )
        if self.dropped:
            parts.append(f"{self.dropped} log records were dropped because the queue was full")
        if parts:
            self._say("tasklogs: " + "; ".join(parts))

    def _say(self, message: str) -> None:
        if self._report is not None:
            with contextlib.suppress(Exception):
                self._report(message)
