"""Tee streams: sys.stdout / sys.stderr replacements that also emit terminal lines.

Everything written goes through to the original stream at once; lines (as
:class:`~otel_sdk_ext._lines.LineSplitter` sees them: ``\\r`` collapsed, long lines split
or truncated, idle partial lines sent) are handed to a sink, which emits them as log
records. The text stream and its ``.buffer`` share one line buffer and one lock, so text
and bytes written in any mix, from any thread, form the same lines the terminal shows.

A write that re-enters on the same thread while a capture is in progress (a signal
handler that prints) is written through and captured right after the outer write: no
deadlock and no corrupted line state.
"""

from __future__ import annotations

import codecs
import io
import threading
from collections.abc import Iterable, Iterator
from threading import get_ident
from types import TracebackType
from typing import IO, Any, AnyStr, BinaryIO, Final, Literal, Self, TextIO

from otel_sdk_ext._lines import MAX_LINE_CHARS, LineSink, LineSplitter

__all__ = ["TeeBinaryStream", "TeeTextStream"]

#: Writes made while a capture is in progress on the same thread (a signal handler's
#: print, or output the SDK produces while emitting a captured line) are captured after
#: it; at most this many per outer write, so output caused by emitting cannot loop.
_MAX_DEFERRED: Final = 1024


def _unsupported(what: str) -> io.UnsupportedOperation:
    return io.UnsupportedOperation(f"{what}: the captured stream is write-only")


class _WriteOnly(IO[AnyStr]):
    """What a write-only, unseekable stream answers; shared by the text and bytes tees."""

    def readable(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, n: int = -1, /) -> AnyStr:
        raise _unsupported("read")

    def readline(self, limit: int = -1, /) -> AnyStr:
        raise _unsupported("readline")

    def readlines(self, hint: int = -1, /) -> list[AnyStr]:
        raise _unsupported("readlines")

    def seek(self, offset: int, whence: int = 0, /) -> int:
        raise _unsupported("seek")

    def tell(self) -> int:
        raise _unsupported("tell")

    def truncate(self, size: int | None = None, /) -> int:
        raise _unsupported("truncate")

    def __next__(self) -> AnyStr:
        raise _unsupported("iteration")

    def __iter__(self) -> Iterator[AnyStr]:
        raise _unsupported("iteration")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None:
        self.close()


class _ThreadLine:
    """One thread's line splitter and byte decoder."""

    __slots__ = ("decoder", "decoding", "lines")

    def __init__(self, lines: LineSplitter, encoding: str) -> None:
        self.lines = lines
        self.decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        self.decoding = False  # bytes were written: the decoder may hold a partial char

    def feed(self, data: str | bytes) -> None:
        if isinstance(data, bytes):
            self.decoding = True
            self.lines.feed(self.decoder.decode(data))
            return
        if self.decoding:
            self.decoding = False
            pending = self.decoder.decode(b"", final=True)
            if pending:
                self.lines.feed(pending)
        self.lines.feed(data)

    def flush(self) -> None:
        if self.decoding:
            self.decoding = False
            self.lines.feed(self.decoder.decode(b"", final=True))
        self.lines.flush_partial()


class TeeTextStream(_WriteOnly[str], TextIO):
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
        self._threads: dict[int, _ThreadLine] = {}
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
                for state in list(self._threads.values()):
                    state.flush()
                self._threads.clear()

    def stop_capture(self) -> None:
        """Emit the pending partial line, then only write through from now on."""
        with self._lock:
            self.flush_partial()
            self._capturing = False

    def flush_if_idle(self, now: float, idle_s: float) -> None:
        """Send pending partial lines if output has been idle (the IdleFlusher); forget
        the line state of threads that have ended."""
        if not self._lock.acquire(timeout=0.5):
            return
        try:
            if self._capturing and not self._busy:
                for state in self._threads.values():
                    state.lines.flush_if_idle(now, idle_s)
                if len(self._threads) > 1:
                    alive = {t.ident for t in threading.enumerate()}
                    for ident in [i for i in self._threads if i not in alive]:
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

    def _capture(self, data: str | bytes) -> None:
        # Caller holds the lock.
        if self._busy:  # re-entered on this thread (a signal handler): after the outer
            if self._budget > 0:  # bounded: a write per emission must not loop forever
                self._budget -= 1
                self._deferred.append(data)
            return
        self._busy = True
        self._budget = _MAX_DEFERRED
        try:
            ident = threading.get_ident()
            state = self._threads.get(ident)
            if state is None:
                state = self._threads[ident] = _ThreadLine(
                    LineSplitter(self._sink, *self._line_options), self._encoding
                )
            if data.__class__ is str and not state.decoding:
                state.lines.feed(data)
            else:
                state.feed(data)
            while self._deferred:
                state.feed(self._deferred.pop(0))
        finally:
            self._busy = False

    def _passthrough(self) -> bool:
        return not self._capturing

    # -- writing ----------------------------------------------------------------------

    def write(self, s: str, /) -> int:
        if s.__class__ is not str and not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        if not self._capturing:
            self._original.write(s)
            return len(s)
        with self._lock:
            # The original keeps its own buffering (line buffered on a terminal).
            self._original.write(s)
            if self._capturing:
                # print() makes several writes per line: the common ones (a piece of
                # text, the newline) are handled here, without the general machinery.
                state = None if self._busy else self._threads.get(get_ident())
                if state is None or state.decoding or not state.lines.feed_plain(s):
                    self._capture(s)
        return len(s)

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


class TeeBinaryStream(_WriteOnly[bytes], BinaryIO):
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
