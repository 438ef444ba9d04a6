"""Tee streams: sys.stdout / sys.stderr replacements that also emit terminal lines.

Everything written goes through to the original stream at once; lines (as
:class:`~otel_sdk_ext._lines.LineSplitter` sees them: ``\\r`` collapsed, long lines split
or truncated, idle partial lines sent) are handed to a sink, which emits them as log
records. The text stream and its ``.buffer`` share one line buffer and one lock, so text
and bytes written in any mix, from any thread, form the same lines the terminal shows.

The hot path is print(): its pieces of text are appended to the writing thread's own
list without the lock (:mod:`otel_sdk_ext._threadline`); its newline takes the lock
once, joins them and hands the line to the sink. Everything else (line control, bytes,
long text) goes through the splitter under the lock, as the pieces would have.

A write that re-enters on the same thread while a capture is in progress (a signal
handler that prints) is written through and captured right after the outer write: no
deadlock and no corrupted line state.
"""

from __future__ import annotations

import codecs
import threading
from collections.abc import Callable, Iterable
from threading import get_ident
from typing import Any, BinaryIO, Final, Literal, TextIO

from otel_sdk_ext._lines import MAX_LINE_CHARS, LineSink, LineSplitter
from otel_sdk_ext._threadline import MAX_PIECES, ThreadLine
from otel_sdk_ext._writeonly import WriteOnly

__all__ = ["TeeBinaryStream", "TeeTextStream"]

#: Writes made while a capture is in progress on the same thread (a signal handler's
#: print, or output the SDK produces while emitting a captured line) are captured after
#: it; at most this many per outer write, so output caused by emitting cannot loop.
_MAX_DEFERRED: Final = 1024


class TeeTextStream(WriteOnly[str], TextIO):
    """A write-only text stream that writes through to ``original`` and captures lines."""

    def __init__(
        self,
        original: TextIO,
        sink: LineSink,
        *,
        max_line_chars: int = MAX_LINE_CHARS,
        long_lines: Literal["split", "truncate"] = "split",
    ) -> None:
        self._original = original
        self._lock = threading.RLock()
        self._sink = sink
        self._line_options: tuple[int, Literal["split", "truncate"]] = (max_line_chars, long_lines)
        #: Line state per writing thread: print() writes the text and the newline
        #: separately, so threads interleave between the two; per thread, each record is
        #: still the line that thread printed.
        self._threads: dict[int, ThreadLine] = {}
        #: The threads whose state is plain (only pieces pending), while capturing: their
        #: plain writes skip the lock (see :meth:`write`).
        self._plain: dict[int, ThreadLine] = {}
        self._piece_max = max_line_chars // MAX_PIECES
        self._capturing = True
        self._busy = False  # inside a capture (the lock is held by this thread then)
        self._deferred: list[str | bytes] = []
        self._budget = _MAX_DEFERRED
        encoding = getattr(original, "encoding", None) or "utf-8"
        try:
            codecs.getincrementaldecoder(encoding)
        except LookupError:
            encoding = "utf-8"
        self._encoding = encoding
        self._buffer = TeeBinaryStream(self)
        self.__dict__["write"] = self._fast_write()

    # -- capture control ------------------------------------------------------------

    @property
    def original(self) -> TextIO:
        return self._original

    @property
    def capturing(self) -> bool:
        return self._capturing

    def flush_partial(self) -> None:
        """Emit pending partial lines (text written without a trailing newline)."""
        with self._lock:
            if self._capturing:
                for ident, state in list(self._threads.items()):
                    state.flush()
                    self._track(ident, state)

    def stop_capture(self) -> None:
        """Emit the pending partial line, then only write through from now on."""
        with self._lock:
            self.flush_partial()
            self._capturing = False
            self._plain.clear()
            self._threads.clear()

    def flush_if_idle(self, now: float, idle_s: float) -> None:
        """Send pending partial lines if output has been idle (the IdleFlusher); forget
        the line state of threads that have ended."""
        if not self._lock.acquire(timeout=0.5):
            return
        try:
            if self._capturing and not self._busy:
                for ident, state in list(self._threads.items()):
                    state.flush_if_idle(now, idle_s)
                    self._track(ident, state)
                if len(self._threads) > 1:
                    alive = {t.ident for t in threading.enumerate()}
                    for ident in [i for i in self._threads if i not in alive]:
                        self._plain.pop(ident, None)
                        self._threads.pop(ident).flush()
        finally:
            self._lock.release()

    def after_fork_in_child(self) -> None:
        """In a forked child: a new lock (it may have been copied while held by a thread
        the child does not have) and an empty line state (the parent sends its own
        partial lines); capture goes on into the child's own pipeline."""
        self._lock = threading.RLock()
        self._busy = False
        self._deferred = []
        self._threads = {}
        self._plain.clear()  # the same dict: write() holds it

    def _capture(self, data: str | bytes) -> None:
        # Caller holds the lock.
        if self._busy:  # re-entered on this thread (a signal handler): after the outer
            if self._budget > 0:  # bounded: a write per emission must not loop forever
                self._budget -= 1
                self._deferred.append(data)
            return
        self._busy = True
        self._budget = _MAX_DEFERRED
        ident = threading.get_ident()
        state = self._threads.get(ident)
        if state is None:
            state = self._threads[ident] = ThreadLine(
                LineSplitter(self._sink, *self._line_options), self._encoding
            )
        self._plain.pop(ident, None)  # re-entrant writes on this thread: deferred
        try:
            state.feed(data)
            while self._deferred:
                state.feed(self._deferred.pop(0))
        finally:
            self._busy = False
            self._track(ident, state)

    def _track(self, ident: int, state: ThreadLine) -> None:
        """Let the thread's plain writes skip the lock while its state is plain. Caller
        holds the lock."""
        if self._capturing and state.plain:
            self._plain[ident] = state
        else:
            self._plain.pop(ident, None)

    def _passthrough(self) -> bool:
        return not self._capturing

    # -- writing ----------------------------------------------------------------------

    def _fast_write(self) -> Callable[[str], int]:
        """The instance's own ``write``: :meth:`write` with a fast path for print().

        print() makes several writes per line: the pieces of text, then the newline. On
        a thread whose line state is plain, a short piece with no line control is
        written through and appended to the thread's own list with neither the lock
        nor a time stamp (the IdleFlusher notices it standing still); the newline takes
        the lock once and hands the joined line to the sink. Closures: the class has a
        ``__getattr__``, which makes every attribute read on the tee a slow one.
        """
        plain, piece_max, original, sink = self._plain, self._piece_max, self._original, self._sink
        general, captured = self.write, self._captured

        def newline(state: ThreadLine) -> int:
            ident = get_ident()
            with self._lock:
                original.write("\n")
                if plain.get(ident) is not state or self._busy:
                    captured(ident, "\n")
                    return 1
                # state.end_plain_line(sink), inline
                pieces = state.pieces
                n = len(pieces)
                if n == 1:
                    text = pieces[0]
                    del pieces[:1]
                elif n:
                    taken = pieces[:n]
                    del pieces[:n]
                    text = "".join(taken)
                else:
                    text = ""
                state.taken += 1
                lines = state.lines
                if text or not lines.sent_partial:
                    sink(text, None)
                lines.sent_partial = False
            return 1

        def write(s: str, /) -> int:
            state = plain.get(get_ident())
            if state is not None and s.__class__ is str:
                n = len(s)
                if n <= piece_max and "\n" not in s and "\r" not in s:
                    pieces = state.pieces
                    if len(pieces) < MAX_PIECES:
                        original.write(s)
                        pieces.append(s)
                        return n
                elif s == "\n":
                    return newline(state)
            return general(s)

        return write

    def write(self, s: str, /) -> int:
        if s.__class__ is not str and not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        if not self._capturing:
            self._original.write(s)
            return len(s)
        with self._lock:
            # The original keeps its own buffering (line buffered on a terminal).
            self._original.write(s)
            self._captured(get_ident(), s)
        return len(s)

    def _captured(self, ident: int, s: str) -> None:
        """Capture ``s``, already written through. Caller holds the lock."""
        if not self._capturing:
            return
        if not self._busy:
            state = self._plain.get(ident)
            if state is not None and s == "\n":
                state.end_plain_line(self._sink)
                return
            if state is None and s.__class__ is str:
                # Not plain (a line with line control, or bytes, pending): the two
                # common writes of print() without the general machinery.
                state = self._threads.get(ident)
                if (
                    state is not None
                    and not state.decoding
                    and not state.pieces
                    and state.lines.feed_plain(s)
                ):
                    if s == "\n":
                        self._track(ident, state)
                    return
        self._capture(s)  # (when busy: deferred, captured after the outer write)

    def writelines(self, lines: Iterable[str], /) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._original.flush()

    # -- attributes of a text stream ---------------------------------------------------

    @property
    def buffer(self) -> BinaryIO:
        return self._buffer

    @property
    def encoding(self) -> str:
        return getattr(self._original, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:
        return getattr(self._original, "errors", None)

    @property
    def line_buffering(self) -> int:
        return bool(getattr(self._original, "line_buffering", False))

    @property
    def newlines(self) -> Any:
        return getattr(self._original, "newlines", None)

    @property
    def mode(self) -> str:
        return getattr(self._original, "mode", "w")

    @property
    def name(self) -> Any:
        return getattr(self._original, "name", "<tasklogs tee>")

    @property
    def closed(self) -> bool:
        return self._original.closed

    def close(self) -> None:
        self.stop_capture()
        self._original.close()

    def fileno(self) -> int:
        return self._original.fileno()

    def isatty(self) -> bool:
        return self._original.isatty()

    def __getattr__(self, name: str) -> Any:
        # Anything else a real stream has (reconfigure, ...) comes from the original.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._original, name)

    def __repr__(self) -> str:
        return f"<TeeTextStream of {self._original!r}>"


class TeeBinaryStream(WriteOnly[bytes], BinaryIO):
    """The ``.buffer`` of a :class:`TeeTextStream`: bytes written are captured too."""

    def __init__(self, text: TeeTextStream) -> None:
        self._text = text

    def write(self, s: bytes | bytearray | memoryview, /) -> int:  # type: ignore[override]
        data = bytes(s)
        tee = self._text
        if tee._passthrough():
            self._write_original(data)
            return len(data)
        with tee._lock:
            self._write_original(data)
            if tee.capturing:
                tee._capture(data)
        return len(data)

    def _write_original(self, data: bytes) -> None:
        original = self._text.original
        raw: BinaryIO | None = getattr(original, "buffer", None)
        if raw is None:
            original.write(data.decode(self._text.encoding, errors="replace"))
            if b"\n" in data:
                original.flush()
            return
        original.flush()  # keep the order of text written before these bytes
        raw.write(data)
        if b"\n" in data:
            raw.flush()

    def writelines(self, lines: Iterable[bytes | bytearray | memoryview], /) -> None:  # type: ignore[override]
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        original = self._text.original
        original.flush()
        raw: BinaryIO | None = getattr(original, "buffer", None)
        if raw is not None:
            raw.flush()

    @property
    def mode(self) -> str:
        return "wb"

    @property
    def name(self) -> Any:
        return self._text.name

    @property
    def closed(self) -> bool:
        return self._text.closed

    def close(self) -> None:
        self._text.close()

    def fileno(self) -> int:
        return self._text.fileno()

    def isatty(self) -> bool:
        return self._text.isatty()

    def __repr__(self) -> str:
        return f"<TeeBinaryStream of {self._text.original!r}>"
