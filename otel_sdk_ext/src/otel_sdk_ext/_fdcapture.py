"""Opt-in capture at the file-descriptor level: whatever writes to fd 1 or 2 is a record.

``sys.stdout`` tees only see Python-level writes. C extensions, ``os.write(1, ...)`` and
child processes (which inherit fds 1/2) bypass them. Here fd N is replaced (``dup2``)
by the write end of a pipe; a reader thread copies every chunk on to the saved original
fd at once (the terminal or CI log still sees everything) and feeds a
:class:`~otel_sdk_ext._lines.LineSplitter`. Only the configuring process owns the pipe:
forked children write into it too, and their output is captured by the parent.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import threading
from typing import Final, Literal

from otel_sdk_ext._lines import LineSink, LineSplitter

__all__ = ["FdCapture"]

_CHUNK: Final = 65536


class FdCapture:
    """Captures one file descriptor until :meth:`stop`."""

    def __init__(
        self,
        fd: int,
        sink: LineSink,
        *,
        max_line_chars: int,
        long_lines: Literal["split", "truncate"],
    ) -> None:
        self.fd = fd
        #: The real destination; write here to reach the terminal without being captured.
        self.saved_fd = os.dup(fd)
        read_end, write_end = os.pipe()
        os.dup2(write_end, fd)
        os.close(write_end)
        self._read_end = read_end
        self._owner = os.getpid()
        self._lock = threading.Lock()
        self._lines = LineSplitter(sink, max_line_chars, long_lines)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._write_through = True
        self._thread = threading.Thread(target=self._pump, name=f"tasklogs-fd{fd}", daemon=True)
        self._thread.start()

    def flush_if_idle(self, now: float, idle_s: float) -> None:
        if self._lock.acquire(timeout=0.5):
            try:
                self._lines.flush_if_idle(now, idle_s)
            finally:
                self._lock.release()

    def after_fork_in_child(self) -> None:
        """The child writes into the parent's pipe; only the parent reads and restores."""
        self._owner = -1
        self._lock = threading.Lock()

    def stop(self, drain_s: float = 2.0) -> None:
        """Put the original fd back, read what is left, send the partial line.

        A forked child still holding the pipe keeps the reader alive: then it is left
        running (daemon) rather than waited for.
        """
        if self._owner != os.getpid():
            return
        self._owner = -1
        os.dup2(self.saved_fd, self.fd)  # our write end is gone: EOF unless inherited
        self._thread.join(drain_s)
        if self._thread.is_alive():
            with self._lock:
                self._lines.flush_partial()
            return
        os.close(self._read_end)
        os.close(self.saved_fd)

    def _pump(self) -> None:
        while True:
            try:
                chunk = os.read(self._read_end, _CHUNK)
            except InterruptedError:
                continue
            except OSError:
                break
            if not chunk:
                break
            self._pass_on(chunk)
            with self._lock:
                self._lines.feed(self._decoder.decode(chunk))
        with self._lock:
            self._lines.feed(self._decoder.decode(b"", final=True))
            self._lines.flush_partial()

    def _pass_on(self, chunk: bytes) -> None:
        if not self._write_through:
            return
        view = memoryview(chunk)
        try:
            while view:
                written = os.write(self.saved_fd, view)
                view = view[written:]
        except OSError:
            # The terminal went away (closed pipe): keep capturing, stop writing there.
            self._write_through = False
        finally:
            with contextlib.suppress(Exception):
                view.release()
