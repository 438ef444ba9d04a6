"""Output capture for one TaskLogging: stdout/stderr tees, or fd 1/2 capture (opt-in).

Either way each stream's lines reach ``sink(stream)``; an IdleFlusher thread sends
partial lines after an idle pause. :meth:`OutputCapture.report` writes to the real
stderr without being captured, for the SDK's own messages about delivery.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from typing import Any, Literal, TextIO

from otel_sdk_ext._fdcapture import FdCapture
from otel_sdk_ext._lines import IdleFlusher, LineSink
from otel_sdk_ext._tee import TeeTextStream
from otel_sdk_ext.settings import Settings

__all__ = ["OutputCapture", "Stream"]

Stream = Literal["stdout", "stderr"]
_STREAMS: tuple[tuple[Stream, int], ...] = (("stdout", 1), ("stderr", 2))


class OutputCapture:
    """Installs on creation (per ``mode``), :meth:`uninstall` restores everything."""

    def __init__(
        self,
        settings: Settings,
        sink: Callable[[Stream], LineSink],
        mode: Literal["python", "fd", "off"],
    ) -> None:
        self._settings = settings
        self._sink = sink
        self._flusher = IdleFlusher(settings.partial_line_flush_ms / 1000)
        self.tees: dict[str, TeeTextStream] = {}
        self.fds: dict[str, FdCapture] = {}
        self._line_buffering_before: bool | None = None
        self._installed = mode != "off"
        if mode == "fd":
            self._install_fds()
        elif mode == "python":
            self._install_tees()

    def flush_partial(self) -> None:
        """Send lines still waiting for their newline (Python-level capture)."""
        for tee in self.tees.values():
            tee.flush_partial()

    def report(self, message: str) -> None:
        """Write a line to the real stderr, uncaptured."""
        line = message + "\n"
        fd_capture = self.fds.get("stderr")
        if fd_capture is not None and self._installed:
            with contextlib.suppress(OSError):
                os.write(fd_capture.saved_fd, line.encode("utf-8", "replace"))
            return
        tee = self.tees.get("stderr")
        stream: TextIO | None = tee.original if tee is not None else sys.stderr
        if stream is None:
            return
        with contextlib.suppress(OSError, ValueError):
            stream.write(line)
            stream.flush()

    def after_fork_in_child(self) -> None:
        for tee in self.tees.values():
            tee.after_fork_in_child()
        for capture in self.fds.values():
            capture.after_fork_in_child()
        self._flusher.restart()

    def uninstall(self) -> None:
        """Send pending partial lines, then put the original streams and fds back."""
        self._installed = False
        try:
            for stream, tee in self.tees.items():
                tee.stop_capture()
                # Only undo our own replacement: if someone wrapped our tee since, leave
                # theirs in place (ours now only writes through).
                if getattr(sys, stream) is tee:
                    setattr(sys, stream, tee.original)
            if self.fds:
                _flush_sys_streams()
                for capture in self.fds.values():
                    capture.stop()
                stdout: Any = sys.stdout
                if self._line_buffering_before is not None and hasattr(stdout, "reconfigure"):
                    with contextlib.suppress(Exception):
                        stdout.reconfigure(line_buffering=self._line_buffering_before)
        finally:
            self._flusher.stop()

    def _install_tees(self) -> None:
        for stream, _fd in _STREAMS:
            original: TextIO | None = getattr(sys, stream)
            if original is None:  # e.g. pythonw: no console
                continue
            tee = TeeTextStream(
                original,
                self._sink(stream),
                max_line_chars=self._settings.max_line_chars,
                long_lines=self._settings.long_lines,
            )
            self.tees[stream] = tee
            setattr(sys, stream, tee)
            self._flusher.add(tee)

    def _install_fds(self) -> None:
        _flush_sys_streams()
        for stream, fd in _STREAMS:
            capture = FdCapture(
                fd,
                self._sink(stream),
                max_line_chars=self._settings.max_line_chars,
                long_lines=self._settings.long_lines,
            )
            self.fds[stream] = capture
            self._flusher.add(capture)
        # Python's own stdout buffer sits above the fd: make it line buffered, or a
        # print() to a non-terminal would reach the pipe only 8 KiB at a time.
        stdout: Any = sys.stdout
        if stdout is not None and hasattr(stdout, "reconfigure"):
            self._line_buffering_before = bool(getattr(stdout, "line_buffering", False))
            with contextlib.suppress(Exception):
                stdout.reconfigure(line_buffering=True)


def _flush_sys_streams() -> None:
    for stream, _fd in _STREAMS:
        current: TextIO | None = getattr(sys, stream)
        with contextlib.suppress(Exception):
            if current is not None:
                current.flush()
