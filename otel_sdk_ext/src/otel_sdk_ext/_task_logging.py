"""TaskLogging: one task run's OTel logging pipeline, and the configure()/shutdown() pair.

Wiring: every source puts raw fields (``_wire.Entry`` tuples) into the buffer of a
:class:`DeliveryProcessor`, whose export thread stamps ``tasklogs.seq``, encodes
OTLP protobuf in bulk and sends it with the OTLP exporter (gRPC or HTTP), retrying, with
a bounded exit. Sources: the root ``logging`` logger (through
:class:`TaskLoggingHandler`), the stdout/stderr tees or fd capture, and
:meth:`TaskLogging.emit_line` / ``emit_task_start`` / ``emit_task_end``. Records the
SDK itself builds (odd attribute values) reach the same buffer through the
``LoggerProvider(resource=identity)`` whose processor the DeliveryProcessor is.

Exit paths that flush: normal exit and ``sys.exit`` and an uncaught exception (atexit),
SIGTERM (turned into :class:`TaskTerminated`, a ``SystemExit``, when nobody else handles
it), and a multiprocessing child's exit (a multiprocessing finaliser: those children
leave through ``os._exit``, which skips atexit).
"""

from __future__ import annotations

import atexit
import logging
import os
import shlex
import signal
import threading
import traceback
import weakref
from collections.abc import Callable, Sequence
from time import time_ns
from types import FrameType
from typing import Any, Final

from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExporter
from opentelemetry.sdk.resources import Resource

from otel_sdk_ext import semconv
from otel_sdk_ext._capture import OutputCapture, Stream
from otel_sdk_ext._delivery import EXPORTER_LOGGER, DeliveryProcessor, ExporterErrors
from otel_sdk_ext._handler import TaskLoggingHandler
from otel_sdk_ext._seq import SeqCounter
from otel_sdk_ext._wire import current_context
from otel_sdk_ext.errors import ConfigError
from otel_sdk_ext.identity import TaskIdentity
from otel_sdk_ext.settings import Settings

__all__ = ["TaskLogging", "TaskTerminated"]

_logger = logging.getLogger(__name__)

STDOUT_SCOPE: Final = "tasklogs.stdout"
STDERR_SCOPE: Final = "tasklogs.stderr"
LIFECYCLE_SCOPE: Final = "tasklogs.task"

#: Per stream: scope name, severity number and text, and the attributes of a plain line
#: (one shared dict, never changed: the encoder encodes it once).
_STREAMS: Final[dict[str, tuple[str, int, str, dict[str, Any]]]] = {
    "stdout": (STDOUT_SCOPE, SeverityNumber.INFO.value, "INFO", {semconv.LOG_IOSTREAM: "stdout"}),
    "stderr": (STDERR_SCOPE, SeverityNumber.ERROR.value, "ERROR", {semconv.LOG_IOSTREAM: "stderr"}),
}


class TaskTerminated(SystemExit):
    """Raised in the main thread on SIGTERM, so ``finally`` blocks, the task context
    manager and the exit flush all run; exit status 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


class TaskLogging:
    """The logging pipeline of one task run. Made by :func:`otel_sdk_ext.configure`."""

    def __init__(
        self,
        identity: TaskIdentity,
        settings: Settings,
        exporter_factory: Callable[[], LogRecordExporter],
        *,
        counter: SeqCounter,
        capture_output: bool = True,
        level: int = logging.INFO,
        handle_sigterm: bool = True,
        on_closed: Callable[[TaskLogging], None] | None = None,
    ) -> None:
        self._on_closed = on_closed
        if isinstance(level, bool) or not isinstance(level, int):
            raise ConfigError(f"level must be an int logging level, got {level!r}")
        self.identity = identity
        self.settings = settings
        self.logger_provider = LoggerProvider(
            resource=Resource.create(identity.resource_attributes()),
            shutdown_on_exit=False,  # our own atexit hook orders the shutdown
        )
        self._errors = ExporterErrors()
        self._exporter_logger = logging.getLogger(EXPORTER_LOGGER)
        self._exporter_logger_propagate = self._exporter_logger.propagate
        self._exporter_logger.addHandler(self._errors)
        self._exporter_logger.propagate = False
        self._counter = counter
        self._delivery = DeliveryProcessor(
            exporter_factory,
            resource=self.logger_provider.resource,
            counter=counter,
            schedule_delay_ms=settings.schedule_delay_ms,
            max_queue_size=settings.max_queue_size,
            max_export_batch_size=settings.max_export_batch_size,
            flush_timeout_s=settings.flush_timeout_s,
            describe_target=f"{settings.endpoint} ({settings.protocol})",
            report=self._report,
            errors=self._errors,
        )
        self.logger_provider.add_log_record_processor(self._delivery)
        self._put = self._delivery.put  # the same object after a fork (state renewed)
        self._state_lock = threading.Lock()
        self._shutdown_started = False
        self._closed = False

        root = logging.getLogger()
        self._root_level_before = root.level
        self._root_level = level
        self._handler = TaskLoggingHandler(self.logger_provider, self._put)
        root.addHandler(self._handler)
        root.setLevel(level)

        #: Per stream, where its lines go: the captured streams and :meth:`emit_line`.
        self._sinks = {stream: self._make_sink(stream) for stream in _STREAMS}
        self._capture = OutputCapture(
            settings,
            self._sinks.__getitem__,
            "fd" if settings.capture_fds else "python" if capture_output else "off",
        )

        self._sigterm_installed = handle_sigterm and self._install_sigterm()
        atexit.register(self._at_exit)
        self._register_fork_hooks()

    # -- public API ---------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once :meth:`shutdown` has run (or is running)."""
        return self._shutdown_started

    @property
    def last_seq(self) -> int:
        """The ``tasklogs.seq`` last taken in this task run (0 if none yet); numbers
        what is buffered first, so every record emitted so far is counted."""
        return self._delivery.last_seq

    @property
    def dropped_records(self) -> int:
        """Records this process could not buffer (buffer full)."""
        return self._delivery.dropped

    @property
    def undelivered_records(self) -> int:
        """Records given up at shutdown because the collector could not be reached."""
        return self._delivery.undelivered

    def emit_line(
        self, stream: Stream, line: str, attributes: dict[str, Any] | None = None
    ) -> None:
        """Emit one line of a standard stream: INFO for stdout, ERROR for stderr.

        ``line`` is the line without its newline. Never raises for a record the SDK
        fails to take; raises :class:`ConfigError` for a stream other than
        ``"stdout"``/``"stderr"``.
        """
        sink = self._sinks.get(stream)
        if sink is None:
            raise ConfigError(f"stream must be 'stdout' or 'stderr', got {stream!r}")
        sink(line, attributes)

    def emit_task_start(self, command: Sequence[str] | None = None) -> None:
        """Emit the ``tasklogs.task.start`` record (pid, and the command if given)."""
        attrs: dict[str, Any] = {"process.pid": os.getpid()}
        if command is not None:
            attrs["process.command_line"] = shlex.join(command)
        self._emit(
            SeverityNumber.INFO,
            "INFO",
            "task started",
            attrs,
            semconv.EVENT_TASK_START,
        )

    def emit_exception(self, exc: BaseException) -> None:
        """Emit an ERROR record with the exception's traceback (OTel ``exception.*``)."""
        stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self._emit(
            SeverityNumber.ERROR,
            "ERROR",
            stack.rstrip("\n"),
            {
                "exception.type": type(exc).__qualname__,
                "exception.message": str(exc),
                "exception.stacktrace": stack,
            },
            None,
        )

    def emit_task_end(self, exit_code: int, result: str | None = None) -> None:
        """Emit the ``tasklogs.task.end`` record (after any pending partial lines).

        ``result`` defaults to ``"success"`` for exit code 0, else ``"failure"``; other
        values of ``cicd.pipeline.task.run.result`` are ``cancellation``, ``timeout``...
        The record carries ``tasklogs.dropped_records``: what this process dropped.
        """
        if isinstance(exit_code, bool) or not isinstance(exit_code, int):
            raise ConfigError(f"exit_code must be an int, got {type(exit_code).__name__}")
        if result is None:
            result = "success" if exit_code == 0 else "failure"
        elif not isinstance(result, str) or not result.strip():
            raise ConfigError(f"result must be a non-empty string, got {result!r}")
        self.flush_partial_lines()
        ok = exit_code == 0
        self._emit(
            SeverityNumber.INFO if ok else SeverityNumber.ERROR,
            "INFO" if ok else "ERROR",
            f"task ended with exit code {exit_code}",
            {
                semconv.TASK_RUN_RESULT: result,
                semconv.PROCESS_EXIT_CODE: exit_code,
                semconv.DROPPED_RECORDS: self.dropped_records,
            },
            semconv.EVENT_TASK_END,
        )

    def flush_partial_lines(self) -> None:
        """Send captured lines still waiting for their newline."""
        self._capture.flush_partial()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Export everything queued so far. False on timeout or after shutdown."""
        if self._closed:
            return False
        return self.logger_provider.force_flush(max(1, int(timeout_s * 1000)))

    def shutdown(self) -> None:
        """Emit pending partial lines, restore the streams and the root logger, then
        flush (at most ``flush_timeout_s``) and stop the exporter. Idempotent."""
        with self._state_lock:
            if self._shutdown_started:
                return
            self._shutdown_started = True
        atexit.unregister(self._at_exit)
        try:
            self._capture.uninstall()
            self._uninstall_handler()
            self._uninstall_sigterm()
        finally:
            self._closed = True
            try:
                self.logger_provider.shutdown()
            finally:
                self._exporter_logger.removeHandler(self._errors)
                self._exporter_logger.propagate = self._exporter_logger_propagate
                if self._on_closed is not None:
                    self._on_closed(self)

    # -- emission -------------------------------------------------------------------------

    def _emit(
        self,
        severity_number: SeverityNumber,
        severity_text: str,
        body: str,
        attributes: dict[str, Any],
        event_name: str | None,
    ) -> None:
        """A lifecycle record (scope ``tasklogs.task``)."""
        if self._closed:
            return
        now = time_ns()
        self._put(
            (
                LIFECYCLE_SCOPE,
                now,
                now,
                severity_number.value,
                severity_text,
                body,
                attributes,
                current_context(),
                event_name,
            )
        )

    def _report(self, message: str) -> None:
        """Tell the user something about delivery on the real stderr, uncaptured."""
        capture = getattr(self, "_capture", None)
        if capture is not None:
            capture.report(message)

    def _make_sink(self, stream: str) -> Callable[[str, dict[str, Any] | None], None]:
        """Where one stream's lines go (a captured stream's and :meth:`emit_line`'s)."""
        scope, severity_number, severity_text, plain = _STREAMS[stream]
        delivery = self._delivery

        def sink(line: str, attrs: dict[str, Any] | None) -> None:
            if self._closed:
                return
            now = time_ns()
            delivery.put(
                (
                    scope,
                    now,
                    now,
                    severity_number,
                    severity_text,
                    line,
                    {**plain, **attrs} if attrs else plain,
                    current_context(),
                    None,
                )
            )

        return sink

    def _uninstall_handler(self) -> None:
        root = logging.getLogger()
        root.removeHandler(self._handler)
        self._handler.close()
        if root.level == self._root_level:
            root.setLevel(self._root_level_before)

    # -- signals, exit and fork ---------------------------------------------------------

    def _install_sigterm(self) -> bool:
        if threading.current_thread() is not threading.main_thread():
            return False
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return False  # somebody else handles SIGTERM; their choice
        signal.signal(signal.SIGTERM, _raise_terminated)
        return True

    def _uninstall_sigterm(self) -> None:
        if not self._sigterm_installed:
            return
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is _raise_terminated:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def _at_exit(self) -> None:
        try:
            self.shutdown()
        except Exception:  # at exit there is nobody left to raise to
            _logger.exception("tasklogs shutdown at exit failed")

    def _register_fork_hooks(self) -> None:
        ref = weakref.ref(self)

        def before() -> None:
            instance = ref()
            if instance is not None and not instance._closed:
                instance._delivery.before_fork()

        def after_in_parent() -> None:
            instance = ref()
            if instance is not None:
                instance._delivery.after_fork_in_parent()

        def after_in_child() -> None:
            instance = ref()
            if instance is not None and not instance._closed:
                instance._after_fork_in_child()

        os.register_at_fork(
            before=before, after_in_parent=after_in_parent, after_in_child=after_in_child
        )
        import multiprocessing.util as mp_util

        # multiprocessing children leave through os._exit (no atexit): a finaliser
        # registered in the child (after its registry is reset) flushes them.
        mp_util.register_after_fork(self, _register_mp_finalizer)

    def _after_fork_in_child(self) -> None:
        """The child keeps shipping: new locks, queue, export thread and exporter; the
        shared counter continues the task run's sequence (see ``_seq``)."""
        self._state_lock = threading.Lock()
        self._delivery.after_fork_in_child()
        self._capture.after_fork_in_child()


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise TaskTerminated(signum)


def _register_mp_finalizer(instance: TaskLogging) -> None:
    import multiprocessing.util as mp_util

    mp_util.Finalize(instance, instance._at_exit, exitpriority=100)
