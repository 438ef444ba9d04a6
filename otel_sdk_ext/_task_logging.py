"""TaskLogging: one task run's OTel logging pipeline, and the configure()/shutdown() pair.

Wiring: ``LoggerProvider(resource=identity)`` -> :class:`SequenceProcessor` (stamps
``tasklogs.seq``) -> ``BatchLogRecordProcessor`` -> OTLP/gRPC exporter. Sources: the
root ``logging`` logger (through :class:`TaskLoggingHandler`), the stdout/stderr tees,
and :meth:`TaskLogging.emit_line` / :meth:`TaskLogging.emit_task_end`.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import weakref
from collections.abc import Mapping
from time import time_ns
from typing import Final, Literal, TextIO

from opentelemetry._logs import Logger, SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.resources import Resource

from collector_service import semconv
from collector_service.errors import ConfigError
from otel_sdk_ext import _guard
from otel_sdk_ext._handler import TaskLoggingHandler
from otel_sdk_ext._seq import SequenceProcessor
from otel_sdk_ext._tee import LineSink, TeeTextStream
from otel_sdk_ext.identity import TaskIdentity

_logger = logging.getLogger(__name__)

DEFAULT_ENDPOINT: Final = "http://127.0.0.1:4317"
MAX_QUEUE_SIZE: Final = 65536
MAX_EXPORT_BATCH_SIZE: Final = 512
STDOUT_SCOPE: Final = "tasklogs.stdout"
STDERR_SCOPE: Final = "tasklogs.stderr"
LIFECYCLE_SCOPE: Final = "tasklogs.task"

Stream = Literal["stdout", "stderr"]

_STREAM_SEVERITY: Final[dict[str, tuple[SeverityNumber, str]]] = {
    "stdout": (SeverityNumber.INFO, "INFO"),
    "stderr": (SeverityNumber.ERROR, "ERROR"),
}


def resolve_endpoint(endpoint: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The OTLP/gRPC endpoint: the argument, else ``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT``,
    else ``OTEL_EXPORTER_OTLP_ENDPOINT``, else ``http://127.0.0.1:4317``."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    for candidate in (
        endpoint,
        env.get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"),
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT"),
    ):
        if candidate is not None and candidate.strip():
            return candidate.strip()
    return DEFAULT_ENDPOINT


def insecure_for(endpoint: str) -> bool | None:
    """``True`` for ``http://``, ``False`` for ``https://``; ``None`` (the exporter and
    ``OTEL_EXPORTER_OTLP_*INSECURE`` decide) for a bare ``host:port``."""
    lowered = endpoint.lower()
    if lowered.startswith("http://"):
        return True
    if lowered.startswith("https://"):
        return False
    return None


def build_otlp_exporter(endpoint: str) -> LogRecordExporter:
    # Imported here: grpc is heavy, and not needed when an exporter is injected.
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
        OTLPLogExporter,
    )

    return OTLPLogExporter(endpoint=endpoint, insecure=insecure_for(endpoint))


class TaskLogging:
    """The logging pipeline of one task run. Made by :func:`otel_sdk_ext.configure`."""

    def __init__(
        self,
        identity: TaskIdentity,
        exporter: LogRecordExporter,
        *,
        capture_output: bool = True,
        level: int = logging.INFO,
        schedule_delay_ms: int = 50,
    ) -> None:
        _check_settings(level, schedule_delay_ms)
        self.identity = identity
        self.logger_provider = LoggerProvider(
            resource=Resource.create(identity.resource_attributes()),
            shutdown_on_exit=False,  # our own atexit hook orders the shutdown
        )
        self._seq = SequenceProcessor(
            BatchLogRecordProcessor(
                exporter,
                schedule_delay_millis=schedule_delay_ms,
                max_export_batch_size=MAX_EXPORT_BATCH_SIZE,
                max_queue_size=MAX_QUEUE_SIZE,
            ),
            first_seq=_next_seq_for(identity.task_run_id),
        )
        self.logger_provider.add_log_record_processor(self._seq)
        self._loggers: dict[str, Logger] = {
            "stdout": self.logger_provider.get_logger(STDOUT_SCOPE),
            "stderr": self.logger_provider.get_logger(STDERR_SCOPE),
        }
        self._lifecycle_logger = self.logger_provider.get_logger(LIFECYCLE_SCOPE)
        self._state_lock = threading.Lock()
        self._shutdown_started = False
        self._closed = False

        root = logging.getLogger()
        self._root_level_before = root.level
        self._root_level = level
        self._handler = TaskLoggingHandler(self.logger_provider)
        root.addHandler(self._handler)
        root.setLevel(level)

        self._tees: dict[str, TeeTextStream] = {}
        if capture_output:
            self._install_tees()

        atexit.register(self._at_exit)
        if hasattr(os, "register_at_fork"):
            ref = weakref.WeakMethod(self._after_fork_in_child)

            def _after_in_child() -> None:
                method = ref()
                if method is not None:
                    method()

            os.register_at_fork(after_in_child=_after_in_child)

    # -- public API ---------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once :meth:`shutdown` has run (or is running)."""
        return self._shutdown_started

    @property
    def last_seq(self) -> int:
        """The ``tasklogs.seq`` of the last record queued for export (0 if none yet)."""
        return self._seq.last_seq

    def emit_line(self, stream: Stream, line: str) -> None:
        """Emit one line of a standard stream: INFO for stdout, ERROR for stderr.

        ``line`` is the line without its newline. Never raises for a record the SDK
        fails to take; raises :class:`ConfigError` for a stream other than
        ``"stdout"``/``"stderr"``.
        """
        logger = self._loggers.get(stream)
        if logger is None:
            raise ConfigError(f"stream must be 'stdout' or 'stderr', got {stream!r}")
        if self._closed:
            return
        severity_number, severity_text = _STREAM_SEVERITY[stream]
        _guard.enter()
        try:
            logger.emit(
                timestamp=time_ns(),
                severity_number=severity_number,
                severity_text=severity_text,
                body=line,
                attributes={semconv.LOG_IOSTREAM: stream},
            )
        except Exception:
            _logger.exception("could not emit a %s line", stream)
        finally:
            _guard.leave()

    def emit_task_end(self, exit_code: int, result: str | None = None) -> None:
        """Emit the ``tasklogs.task.end`` record (after any pending partial lines).

        ``result`` defaults to ``"success"`` for exit code 0, else ``"failure"``; other
        values of ``cicd.pipeline.task.run.result`` are ``cancellation``, ``timeout``...
        """
        if isinstance(exit_code, bool) or not isinstance(exit_code, int):
            raise ConfigError(f"exit_code must be an int, got {type(exit_code).__name__}")
        if result is None:
            result = "success" if exit_code == 0 else "failure"
        elif not isinstance(result, str) or not result.strip():
            raise ConfigError(f"result must be a non-empty string, got {result!r}")
        for tee in self._tees.values():
            tee.flush_partial()
        if self._closed:
            return
        ok = exit_code == 0
        _guard.enter()
        try:
            self._lifecycle_logger.emit(
                timestamp=time_ns(),
                severity_number=SeverityNumber.INFO if ok else SeverityNumber.ERROR,
                severity_text="INFO" if ok else "ERROR",
                body=f"task ended with exit code {exit_code}",
                attributes={
                    semconv.TASK_RUN_RESULT: result,
                    semconv.PROCESS_EXIT_CODE: exit_code,
                },
                event_name=semconv.EVENT_TASK_END,
            )
        except Exception:
            _logger.exception("could not emit the task end record")
        finally:
            _guard.leave()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Export everything queued so far. False on timeout or after shutdown."""
        if self._closed:
            return False
        return self.logger_provider.force_flush(max(1, int(timeout_s * 1000)))

    def shutdown(self) -> None:
        """Emit pending partial lines, restore sys.stdout/sys.stderr and the root logger,
        then flush and stop the exporter. Idempotent."""
        with self._state_lock:
            if self._shutdown_started:
                return
            self._shutdown_started = True
        atexit.unregister(self._at_exit)
        try:
            self._uninstall_tees()
            self._uninstall_handler()
        finally:
            self._closed = True
            try:
                self.logger_provider.shutdown()
            finally:
                _record_used_seq(self.identity.task_run_id, self._seq.last_seq)
                _forget(self)

    # -- internals ---------------------------------------------------------------------

    def _install_tees(self) -> None:
        for stream in ("stdout", "stderr"):
            original: TextIO | None = getattr(sys, stream)
            if original is None:  # e.g. pythonw: no console
                continue
            tee = TeeTextStream(original, self._make_sink(stream))
            self._tees[stream] = tee
            setattr(sys, stream, tee)

    def _make_sink(self, stream: Stream) -> LineSink:
        def sink(line: str) -> None:
            self.emit_line(stream, line)

        return sink

    def _uninstall_tees(self) -> None:
        for stream, tee in self._tees.items():
            tee.stop_capture()
            # Only undo our own replacement: if someone wrapped our tee since, leave
            # theirs in place (ours now only writes through).
            if getattr(sys, stream) is tee:
                setattr(sys, stream, tee.original)

    def _uninstall_handler(self) -> None:
        root = logging.getLogger()
        root.removeHandler(self._handler)
        self._handler.close()
        if root.level == self._root_level:
            root.setLevel(self._root_level_before)

    def _at_exit(self) -> None:
        try:
            self.shutdown()
        except Exception:  # at exit there is nobody left to raise to
            _logger.exception("tasklogs shutdown at exit failed")

    def _after_fork_in_child(self) -> None:
        # A forked child would number records from the parent's counter: duplicates
        # under the same task run id. It stops emitting; its output still goes to the
        # inherited streams (wrap the command with `tasklogs run` to capture those).
        self._seq.after_fork_in_child()
        for tee in self._tees.values():
            tee.after_fork_in_child()


def _check_settings(level: int, schedule_delay_ms: int) -> None:
    if isinstance(level, bool) or not isinstance(level, int):
        raise ConfigError(f"level must be an int logging level, got {level!r}")
    if (
        isinstance(schedule_delay_ms, bool)
        or not isinstance(schedule_delay_ms, int)
        or schedule_delay_ms <= 0
    ):
        raise ConfigError(f"schedule_delay_ms must be a positive int, got {schedule_delay_ms!r}")


# -- sequence numbers already used in this process, per task run id ---------------------
# A second configure() for the same task run continues the count: starting again at 1
# would make every consumer drop the new lines as duplicates.

_used_seq: dict[str, int] = {}
_used_seq_lock = threading.Lock()


def _next_seq_for(task_run_id: str) -> int:
    with _used_seq_lock:
        return _used_seq.get(task_run_id, 0) + 1


def _record_used_seq(task_run_id: str, last_seq: int) -> None:
    with _used_seq_lock:
        _used_seq[task_run_id] = max(_used_seq.get(task_run_id, 0), last_seq)


# -- the process-wide active TaskLogging ---------------------------------------------

_active: TaskLogging | None = None
_active_lock = threading.RLock()


def _forget(instance: TaskLogging) -> None:
    global _active  # noqa: PLW0603
    with _active_lock:
        if _active is instance:
            _active = None


def active() -> TaskLogging | None:
    """The TaskLogging made by the last :func:`configure`, unless shut down since."""
    return _active


def start(
    identity: TaskIdentity,
    *,
    endpoint: str | None = None,
    capture_output: bool = True,
    level: int = logging.INFO,
    schedule_delay_ms: int = 50,
    exporter: LogRecordExporter | None = None,
) -> TaskLogging:
    """Shut down the active TaskLogging, if any, and make ``identity``'s the active one."""
    global _active  # noqa: PLW0603
    _check_settings(level, schedule_delay_ms)
    if exporter is None:
        exporter = build_otlp_exporter(resolve_endpoint(endpoint))
    with _active_lock:
        previous = _active
        if previous is not None:
            previous.shutdown()
        instance = TaskLogging(
            identity,
            exporter,
            capture_output=capture_output,
            level=level,
            schedule_delay_ms=schedule_delay_ms,
        )
        _active = instance
        return instance


def shutdown() -> None:
    """Flush and stop the active TaskLogging, if any. Idempotent."""
    with _active_lock:
        instance = _active
    if instance is not None:
        instance.shutdown()
