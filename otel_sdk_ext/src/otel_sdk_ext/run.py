"""``tasklogs run -- CMD``: run a command in any language and send its output as logs.

The child's stdout and stderr are pipes; two threads copy every chunk through to our
own stdout/stderr at once (so the terminal or CI log sees exactly what the child wrote)
and emit each complete line as a record. SIGINT and SIGTERM sent to the wrapper are
forwarded to the child. A ``tasklogs.task.start`` record comes first; when the child
is gone and its output drained, one ``tasklogs.task.end`` record carries the exit code
and result. Lines are cut as a terminal shows them (``\\r`` progress updates collapsed,
idle partial lines sent, long lines split or truncated: see ``_lines``). The collector
being down at start or during the run only delays delivery (records are buffered and
retried); what could not be sent within the flush timeout is reported on stderr.
"""

from __future__ import annotations

import codecs
import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import IO, Any, BinaryIO, Final

from opentelemetry.sdk._logs.export import LogRecordExporter

from otel_sdk_ext._capture import Stream
from otel_sdk_ext._lines import IdleFlusher, LineSplitter
from otel_sdk_ext._registry import start
from otel_sdk_ext._task_logging import TaskLogging
from otel_sdk_ext.errors import ConfigError
from otel_sdk_ext.identity import TaskIdentity
from otel_sdk_ext.settings import Settings

__all__ = ["EXIT_CANNOT_EXECUTE", "EXIT_NOT_FOUND", "run_command"]

#: Shell conventions for a command that cannot be started.
EXIT_NOT_FOUND: Final = 127
EXIT_CANNOT_EXECUTE: Final = 126

_FORWARDED_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)
_CHUNK: Final = 65536
#: After the child exits, stop waiting for its pipes once nothing arrived for this
#: long: a background grandchild may hold them open forever.
_DRAIN_IDLE_S: Final = 5.0

_SignalHandler = Callable[[int, FrameType | None], Any] | int | None


def run_command(
    argv: Sequence[str],
    *,
    identity: TaskIdentity,
    endpoint: str | None = None,
    settings: Settings | None = None,
    _exporter: LogRecordExporter | None = None,
) -> int:
    """Run ``argv``, tee its output to ours and to tasklogs; return its exit code.

    A child killed by signal N gives 128+N (result ``cancellation`` for SIGINT and
    SIGTERM, else ``failure``); a command that is not found gives 127, one that cannot
    be executed 126. ``settings`` default to :meth:`Settings.from_env` (``endpoint``
    overrides its endpoint). ``_exporter`` replaces the OTLP exporter (tests).
    """
    args = list(argv)
    if not args:
        raise ConfigError("run_command: no command given (argv is empty)")
    for arg in args:
        if not isinstance(arg, str):
            raise ConfigError(f"run_command: arguments must be strings, got {arg!r}")
    if settings is None:
        settings = Settings.from_env(endpoint=endpoint)
    elif endpoint is not None:
        settings = settings.with_(endpoint=endpoint)
    logging_ = start(
        identity, settings, capture_output=False, handle_sigterm=False, exporter=_exporter
    )
    try:
        exit_code = _Runner(logging_, args).run()
    finally:
        logging_.shutdown()  # bounded by the flush timeout; reports what was not sent
    return exit_code


class _StreamLines:
    """One child stream's line state, shared by its reader thread and the IdleFlusher."""

    def __init__(self, task_logging: TaskLogging, stream: Stream) -> None:
        settings = task_logging.settings
        self.lock = threading.Lock()
        self.splitter = LineSplitter(
            lambda line, attrs: task_logging.emit_line(stream, line, attrs),
            settings.max_line_chars,
            settings.long_lines,
        )

    def flush_if_idle(self, now: float, idle_s: float) -> None:
        if self.lock.acquire(timeout=0.5):
            try:
                self.splitter.flush_if_idle(now, idle_s)
            finally:
                self.lock.release()


class _Runner:
    def __init__(self, task_logging: TaskLogging, argv: list[str]) -> None:
        self._tl = task_logging
        self._argv = argv
        self._proc: subprocess.Popen[bytes] | None = None
        self._unsent: list[int] = []
        self._cancel_requested = False
        self._progress = 0  # bytes read from the child's pipes, for the drain timeout
        self._lines: list[_StreamLines] = []

    def run(self) -> int:
        previous = self._install_signal_handlers()
        self._tl.emit_task_start(self._argv)
        try:
            try:
                proc = subprocess.Popen(self._argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            except FileNotFoundError:
                return self._not_started(EXIT_NOT_FOUND, "command not found")
            except PermissionError:
                return self._not_started(EXIT_CANNOT_EXECUTE, "permission denied")
            except OSError as exc:
                return self._not_started(EXIT_CANNOT_EXECUTE, f"cannot execute: {exc}")
            self._proc = proc
            # Signals that arrived before the child existed.
            while self._unsent:
                self._forward(self._unsent.pop(0))
            returncode = self._wait(proc)
        finally:
            self._restore_signal_handlers(previous)
        exit_code, result = self._outcome(returncode)
        self._tl.emit_task_end(exit_code, result)
        return exit_code

    def _wait(self, proc: subprocess.Popen[bytes]) -> int:
        assert proc.stdout is not None
        assert proc.stderr is not None
        flusher = IdleFlusher(self._tl.settings.partial_line_flush_ms / 1000)
        readers = [
            self._start_reader(proc.stdout, "stdout", sys.stdout, flusher),
            self._start_reader(proc.stderr, "stderr", sys.stderr, flusher),
        ]
        try:
            return self._wait_for(proc, readers)
        finally:
            flusher.stop()

    def _wait_for(self, proc: subprocess.Popen[bytes], readers: list[threading.Thread]) -> int:
        returncode = proc.wait()
        seen = -1
        idle_since = time.monotonic()
        while any(reader.is_alive() for reader in readers):
            for reader in readers:
                reader.join(0.1)
            if self._progress != seen:
                seen = self._progress
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > _DRAIN_IDLE_S:
                break  # pipes held open by something else; the child itself is done
        return returncode

    def _start_reader(
        self, pipe: IO[bytes], stream: Stream, out: Any, flusher: IdleFlusher
    ) -> threading.Thread:
        lines = _StreamLines(self._tl, stream)
        self._lines.append(lines)  # strong ref: the flusher holds owners weakly
        flusher.add(lines)
        thread = threading.Thread(
            target=self._pump,
            args=(pipe, lines, out),
            name=f"tasklogs-run-{stream}",
            daemon=True,
        )
        thread.start()
        return thread

    def _pump(self, pipe: IO[bytes], lines: _StreamLines, out: Any) -> None:
        """Copy the child's stream through to ``out`` and emit its lines."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        binary: BinaryIO | None = getattr(out, "buffer", None)
        text_out: Any = out
        read = getattr(pipe, "read1", pipe.read)
        try:
            while True:
                chunk: bytes = read(_CHUNK)
                if not chunk:
                    break
                self._progress += len(chunk)
                text = decoder.decode(chunk)
                if binary is not None or text_out is not None:
                    binary, text_out = _write_through(binary, text_out, chunk, text)
                with lines.lock:
                    lines.splitter.feed(text)
            with lines.lock:
                lines.splitter.feed(decoder.decode(b"", final=True))
                lines.splitter.flush_partial()
        finally:
            pipe.close()

    def _not_started(self, exit_code: int, reason: str) -> int:
        message = f"tasklogs run: {self._argv[0]}: {reason}"
        with contextlib.suppress(OSError, ValueError):
            print(message, file=sys.stderr, flush=True)
        self._tl.emit_line("stderr", message)
        self._tl.emit_task_end(exit_code, "failure")
        return exit_code

    def _outcome(self, returncode: int) -> tuple[int, str]:
        if returncode < 0:
            signum = -returncode
            cancelled = signum in _FORWARDED_SIGNALS
            return 128 + signum, "cancellation" if cancelled else "failure"
        if returncode == 0:
            return 0, "success"
        # Exiting non-zero after we passed on SIGINT/SIGTERM (a shell exits 130/143
        # after its child is interrupted, say) is a cancellation too.
        return returncode, "cancellation" if self._cancel_requested else "failure"

    # -- signals -------------------------------------------------------------------------

    def _install_signal_handlers(self) -> dict[int, _SignalHandler]:
        previous: dict[int, _SignalHandler] = {}
        if threading.current_thread() is not threading.main_thread():
            return previous  # only the main thread may set handlers; nothing forwarded
        for signum in _FORWARDED_SIGNALS:
            previous[signum] = signal.signal(signum, self._on_signal)
        return previous

    def _restore_signal_handlers(self, previous: dict[int, _SignalHandler]) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Runs in the main thread between bytecodes: no locks here.
        self._cancel_requested = True
        if self._proc is None:
            self._unsent.append(signum)
        else:
            self._forward(signum)

    def _forward(self, signum: int) -> None:
        proc = self._proc
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signum)


def _write_through(
    binary: BinaryIO | None, text_out: Any, chunk: bytes, text: str
) -> tuple[BinaryIO | None, Any]:
    """Write a chunk to our own stream; on failure (closed, broken pipe) stop writing
    there but keep capturing, or the child would block on a full pipe."""
    try:
        if binary is not None:
            binary.write(chunk)
            binary.flush()
        elif text_out is not None:
            text_out.write(text)
            text_out.flush()
    except (OSError, ValueError):
        return None, None
    return binary, text_out
