"""Delivery: a bounded queue, one export thread, retry until delivered, a bounded exit.

Why not the SDK's ``BatchLogRecordProcessor``: it gives a batch up once the exporter's
own retries end (a collector restart loses lines), drops silently when its queue is full,
and has no bound on the final flush short of the exporter's full retry schedule. Here:

- records wait at most ``schedule_delay_ms`` (or until a batch is full) before export;
- a failed export is retried, with backoff capped at 5 s, for as long as the task runs:
  the queue (``max_queue_size`` records) absorbs the outage, and once it is full new
  records are dropped *and counted* (:attr:`dropped`, reported in the end record);
- :meth:`shutdown` flushes for at most ``flush_timeout_s``, then aborts the exporter and
  reports on stderr how many records could not be delivered and why;
- a forked child gets a fresh queue, thread and exporter (the parent's queued records
  are the parent's to send; the child's exporter must not share the parent's channel).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Final

from opentelemetry._logs import SeverityNumber
from opentelemetry.context import Context
from opentelemetry.sdk._logs import LogRecordProcessor, ReadableLogRecord, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otel_sdk_ext import semconv

__all__ = ["DeliveryProcessor", "ExporterErrors"]

_MAX_BACKOFF_S: Final = 5.0
_EMPTY_RESOURCE: Final = Resource.get_empty()
#: Lifecycle records are queued even when the queue is full: the end record is where
#: the drops are reported, and there are only two per task run.
_KEEP_EVENTS: Final = frozenset({semconv.EVENT_TASK_START, semconv.EVENT_TASK_END})
_FIRST_BACKOFF_S: Final = 0.2

#: The stock exporters log their failures here.
EXPORTER_LOGGER: Final = "opentelemetry.exporter"


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
    """Queue + export thread. ``on_emit`` must be called with records in seq order."""

    def __init__(
        self,
        exporter_factory: Callable[[], LogRecordExporter],
        *,
        schedule_delay_ms: int = 50,
        max_queue_size: int = 65536,
        max_export_batch_size: int = 512,
        flush_timeout_s: float = 5.0,
        describe_target: str = "the collector",
        report: Callable[[str], None] | None = None,
        errors: ExporterErrors | None = None,
    ) -> None:
        self._factory = exporter_factory
        self._delay_s = schedule_delay_ms / 1000
        self._max_queue = max_queue_size
        self._max_batch = max_export_batch_size
        self._flush_timeout_s = flush_timeout_s
        self._target = describe_target
        self._report = report
        self._errors = errors
        self._left_behind: list[LogRecordExporter] = []
        self._init_state(self._factory())

    def _init_state(self, exporter: LogRecordExporter) -> None:
        self._exporter = exporter
        self._pid = os.getpid()
        self._queue: deque[ReadableLogRecord] = deque()
        self._wake = threading.Event()
        self._abandon = threading.Event()
        self._cv = threading.Condition(threading.Lock())
        self._in_flight = 0
        self._worker: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._stopping = False
        self._stopped = False
        self._failing_since: float | None = None
        self._last_exception: str | None = None
        #: Records refused because the queue was full (this process).
        self.dropped = 0
        #: Records given up at shutdown (collector unreachable past the flush timeout).
        self.undelivered = 0
        #: Records the exporter accepted (this process).
        self.delivered = 0

    # -- LogRecordProcessor ----------------------------------------------------------------

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        # The exporters take the frozen form; the API record itself is shared, not
        # copied (nothing changes it after emission).
        self.enqueue(
            ReadableLogRecord(
                log_record=log_record.log_record,
                resource=log_record.resource or _EMPTY_RESOURCE,
                instrumentation_scope=log_record.instrumentation_scope,
                limits=log_record.limits,
            )
        )

    def enqueue(self, record: ReadableLogRecord) -> None:
        """Queue a finished record (the fast path for the SDK's own records)."""
        if self._pid != os.getpid():
            self.after_fork_in_child()  # no at-fork hook ran (os.fork without hooks?)
        if self._stopped:
            self.dropped += 1
            return
        queue = self._queue
        if len(queue) >= self._max_queue and record.log_record.event_name not in _KEEP_EVENTS:
            self.dropped += 1
            return
        queue.append(record)
        if self._worker is None:
            self._start_worker()
        if len(queue) >= self._max_batch:
            self._wake.set()

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
        """Export everything queued so far; False if that took longer than the timeout."""
        if self._stopped or self._worker is None:
            return not self._queue
        deadline = time.monotonic() + timeout_millis / 1000
        self._wake.set()
        with self._cv:
            while self._queue or self._in_flight:
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
            stranded = len(self._queue) + self._in_flight
            self._queue.clear()
        self.undelivered += stranded
        if worker is None or not worker.is_alive():
            with contextlib.suppress(Exception):
                self._exporter.shutdown()  # type: ignore[no-untyped-call]
        self._report_losses(cause)

    # -- fork -------------------------------------------------------------------------

    def after_fork_in_child(self) -> None:
        """Fresh queue, thread and exporter: only the child's own records from here."""
        # The parent's exporter (a gRPC channel) must not be used or closed here; keep
        # it referenced so its finaliser does not run in the child either.
        self._left_behind.append(self._exporter)
        self._init_state(self._factory())

    # -- internals --------------------------------------------------------------------

    @property
    def failing(self) -> bool:
        """True while exports fail (the collector is unreachable or refuses)."""
        return self._failing_since is not None

    def _start_worker(self) -> None:
        with self._start_lock:
            if self._worker is not None:
                return
            worker = threading.Thread(target=self._run, name="tasklogs-export", daemon=True)
            worker.start()
            self._worker = worker

    def _run(self) -> None:
        while True:
            self._wake.wait(self._delay_s)
            self._wake.clear()
            self._drain()
            if self._stopping and not self._queue:
                return
            if self._abandon.is_set():
                return

    def _drain(self) -> None:
        queue = self._queue
        while queue and not self._abandon.is_set():
            with self._cv:
                n = min(len(queue), self._max_batch)
                batch = [queue.popleft() for _ in range(n)]
                self._in_flight = n
            try:
                self._deliver(batch)
            finally:
                with self._cv:
                    self._in_flight = 0
                    self._cv.notify_all()

    def _deliver(self, batch: list[ReadableLogRecord]) -> None:
        backoff = _FIRST_BACKOFF_S
        while True:
            if self._abandon.is_set():
                self.undelivered += len(batch)
                return
            try:
                result = self._exporter.export(batch)
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
