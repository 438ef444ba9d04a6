"""Turn a stream of text into the lines a terminal would show, as log records.

- ``\\n`` ends a line; a ``\\r\\n`` pair is one line end.
- A bare ``\\r`` returns to the start of the line: a progress bar's thousand updates
  collapse to the state that is visible when the line ends (or when output pauses),
  never one record per update.
- A line without its newline yet is sent once output has been idle for a moment
  (:meth:`LineSplitter.flush_if_idle`) or at exit, with ``tasklogs.line.partial``; what
  follows on that line later becomes a record of its own.
- A line longer than ``max_chars`` is either split into pieces (each but the last ends
  with :data:`SPLIT_MARKER` and all carry ``tasklogs.line.part``) or truncated (ends with
  :data:`TRUNCATED_MARKER`); either way ``tasklogs.line.original_length`` records its
  full length in characters. Memory per stream stays bounded by ``max_chars``.

Not thread-safe by itself: owners (the tees, fd capture, ``tasklogs run``) hold a lock.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, Final, Literal, Protocol

__all__ = [
    "ATTR_LINE_ORIGINAL_LENGTH",
    "ATTR_LINE_PART",
    "ATTR_LINE_PARTIAL",
    "MAX_LINE_CHARS",
    "SPLIT_MARKER",
    "TRUNCATED_MARKER",
    "IdleFlusher",
    "LineSink",
    "LineSplitter",
]

#: Receives one line (no terminator) and extra record attributes, or ``None``.
LineSink = Callable[[str, dict[str, Any] | None], None]

MAX_LINE_CHARS: Final = 64 * 1024
SPLIT_MARKER: Final = " \N{HORIZONTAL ELLIPSIS}[line continues]"
TRUNCATED_MARKER: Final = " \N{HORIZONTAL ELLIPSIS}[truncated]"
ATTR_LINE_PARTIAL: Final = "tasklogs.line.partial"
ATTR_LINE_PART: Final = "tasklogs.line.part"
ATTR_LINE_ORIGINAL_LENGTH: Final = "tasklogs.line.original_length"

#: An unterminated line that keeps changing (a progress bar) is still sent this often.
MAX_PARTIAL_AGE_S: Final = 5.0


class LineSplitter:
    """Splits text into terminal lines for a sink."""

    def __init__(
        self,
        sink: LineSink,
        max_line_chars: int = MAX_LINE_CHARS,
        long_lines: Literal["split", "truncate"] = "split",
    ) -> None:
        self._sink = sink
        self._max = max_line_chars
        self._truncate = long_lines == "truncate"
        self._buf: list[str] = []  # the visible state of the current line
        self._len = 0
        self._total = 0  # characters of the current line, incl. spilled or cut ones
        self._parts = 0  # pieces of the current line already sent (split mode)
        self._cut = False  # truncate mode: the rest of the line is being discarded
        self._cr = False  # the last character fed was a '\r' (maybe of a '\r\n')
        self.sent_partial = False  # part of the current line went out already
        #: monotonic time of the last feed, and of the first unsent change
        self.last_feed = 0.0
        self._dirty_since: float | None = None

    @property
    def pending(self) -> bool:
        return self._len > 0

    @property
    def clean(self) -> bool:
        """At the start of a line, no line control in effect: plain text may follow."""
        return not (self._len or self._cr or self._cut or self._parts)

    def feed(self, text: str) -> None:
        if not text:
            return
        now = time.monotonic()
        self.last_feed = now
        if (
            "\n" not in text
            and "\r" not in text
            and not self._cr
            and not self._cut
            and self._len + len(text) <= self._max
        ):
            # The common partial write (print() writes its pieces one by one): just
            # keep it; lines are cut when the newline comes.
            self._buf.append(text)
            self._len += len(text)
            self._total += len(text)
            if self._dirty_since is None:
                self._dirty_since = now
            return
        start = 0
        while True:
            nl = text.find("\n", start)
            if nl < 0:
                self._add(text[start:])
                break
            segment = text[start:nl]
            if (
                not self._len
                and not self._cr
                and not self.sent_partial
                and "\r" not in segment
                and len(segment) <= self._max
            ):
                self._sink(segment, None)  # the common case: a whole short line
            else:
                self._add(segment)
                self._cr = False  # '\r\n': a line end, not a return
                self._end_line(partial=False)
            start = nl + 1
        if self._len and self._dirty_since is None:
            self._dirty_since = now

    def feed_plain(self, text: str) -> bool:
        """:meth:`feed` for the two common writes of ``print``: a piece of a line with
        no line control, or the newline that ends a plain line. False (nothing done)
        for anything else: the caller then calls :meth:`feed`."""
        if self._cr or self._cut:
            return False
        if text == "\n":
            if self._parts:
                return False
            now = time.monotonic()
            self.last_feed = now
            text = "".join(self._buf)
            if text or not self.sent_partial:
                self._sink(text, None)
            self.sent_partial = False
            self._buf.clear()
            self._len = self._total = 0
            self._dirty_since = None
            return True
        if "\n" in text or "\r" in text or self._len + len(text) > self._max:
            return False
        now = time.monotonic()
        self.last_feed = now
        self._buf.append(text)
        self._len += len(text)
        self._total += len(text)
        if self._dirty_since is None:
            self._dirty_since = now
        return True

    def flush_partial(self) -> None:
        """Send the current (unterminated) line, if anything is pending."""
        if self._len:
            self._end_line(partial=True)

    def flush_if_idle(self, now: float, idle_s: float) -> None:
        """Send the pending line if nothing came for ``idle_s`` or it has been changing
        for :data:`MAX_PARTIAL_AGE_S` (a live progress bar)."""
        if not self._len:
            return
        dirty = self._dirty_since if self._dirty_since is not None else now
        if now - self.last_feed >= idle_s or now - dirty >= MAX_PARTIAL_AGE_S:
            self._end_line(partial=True)

    # -- internals ------------------------------------------------------------------------

    def _add(self, segment: str) -> None:
        if not segment:
            return
        if self._cr:  # the previous '\r' was not part of a '\r\n': back to column 0
            self._reset()
            self._cr = False
        if segment.endswith("\r"):
            segment = segment[:-1]
            self._cr = True
        cr = segment.rfind("\r")
        if cr >= 0:
            self._reset()
            segment = segment[cr + 1 :]
        if not segment:
            return
        self._total += len(segment)
        if self._cut:
            return
        self._buf.append(segment)
        self._len += len(segment)
        if self._len > self._max:
            self._overflow()

    def _overflow(self) -> None:
        text = "".join(self._buf)
        if self._truncate:
            self._buf = [text[: self._max]]
            self._len = self._max
            self._cut = True
            return
        while len(text) > self._max:
            self._parts += 1
            self._sink(text[: self._max] + SPLIT_MARKER, {ATTR_LINE_PART: self._parts})
            text = text[self._max :]
        self._buf = [text] if text else []
        self._len = len(text)

    def _reset(self) -> None:
        self._buf.clear()
        self._len = 0
        self._total = 0
        self._cut = False
        # Pieces already sent stay sent; what follows starts a new visible state.
        self._parts = 0

    def _end_line(self, *, partial: bool) -> None:
        text = "".join(self._buf)
        attrs: dict[str, Any] | None = None
        if self._cut:
            text += TRUNCATED_MARKER
            attrs = {ATTR_LINE_ORIGINAL_LENGTH: self._total}
        elif self._parts:
            attrs = {ATTR_LINE_PART: self._parts + 1, ATTR_LINE_ORIGINAL_LENGTH: self._total}
        if partial:
            attrs = {**(attrs or {}), ATTR_LINE_PARTIAL: True}
        if text or attrs is not None or not self.sent_partial:
            self._sink(text, attrs)
        self.sent_partial = partial
        self._buf.clear()
        self._len = 0
        self._total = 0
        self._parts = 0
        self._cut = False
        self._dirty_since = None


class _Flushable(Protocol):
    def flush_if_idle(self, now: float, idle_s: float) -> None: ...


class IdleFlusher:
    """One daemon thread that sends idle partial lines of its registered owners.

    Owners are held weakly and asked (``flush_if_idle``) every ``idle_s / 4``; each takes
    its own lock there. In a forked child the thread is gone: call :meth:`restart`.
    """

    def __init__(self, idle_s: float) -> None:
        self._idle_s = idle_s
        self._owners: weakref.WeakSet[Any] = weakref.WeakSet()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, owner: _Flushable) -> None:
        self._owners.add(owner)
        if self._thread is None:
            self._start()

    def restart(self) -> None:
        self._stop = threading.Event()
        self._thread = None
        if len(self._owners):
            self._start()

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(2.0)

    def _start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, args=(self._stop,), name="tasklogs-partial-lines", daemon=True
        )
        self._thread.start()

    def _run(self, stop: threading.Event) -> None:
        interval = max(self._idle_s / 4, 0.01)
        while not stop.wait(interval):
            now = time.monotonic()
            for owner in list(self._owners):
                try:
                    owner.flush_if_idle(now, self._idle_s)
                except Exception:  # noqa: BLE001, S112 - a flusher must not die
                    continue
