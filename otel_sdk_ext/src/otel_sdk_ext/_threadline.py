"""One writing thread's line state in a tee: its splitter, byte decoder and fast pieces.

print() makes several writes per line (the pieces of text, then the newline). While a
thread's state is :attr:`ThreadLine.plain` (nothing but pieces pending), the tee appends
a short piece with no line control to :attr:`ThreadLine.pieces` without its lock and
without a time stamp; the newline (under the lock) joins them into the line. Only the
owning thread appends; whoever takes pieces (under the tee's lock: the newline, the
IdleFlusher, a flush) removes exactly the items it read, so a piece appended meanwhile
(by a signal handler on the owner, or while the flusher looks) stays, in order.

Idle partial lines: with no time stamp per piece, the IdleFlusher sees a change as a
new ``(takes, pieces)`` count at its looks (every ``idle_s / 4``); a line that has
not changed for ``idle_s`` is sent as partial, as the splitter does for its own text.
"""

from __future__ import annotations

import codecs
from typing import Final

from otel_sdk_ext._lines import MAX_PARTIAL_AGE_S, LineSink, LineSplitter

__all__ = ["MAX_PIECES", "ThreadLine"]

#: At most this many pieces wait for their newline without the lock, each of at most
#: ``max_line_chars // MAX_PIECES`` characters: the pending text stays bounded.
MAX_PIECES: Final = 32


class ThreadLine:
    """One thread's line splitter and byte decoder, and its fast pieces.

    ``pieces`` are plain text (no ``\\n``, no ``\\r``, short) the owning thread wrote
    without the lock, after whatever the splitter holds; only the owner appends to the
    list, and anyone taking from it (under the tee's lock) removes exactly the items it
    read, so a piece appended meanwhile stays.
    """

    __slots__ = (
        "decoder",
        "decoding",
        "dirty_since",
        "lines",
        "pieces",
        "seen",
        "seen_at",
        "taken",
    )

    def __init__(self, lines: LineSplitter, encoding: str) -> None:
        self.lines = lines
        self.decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        self.decoding = False  # bytes were written: the decoder may hold a partial char
        self.pieces: list[str] = []
        self.taken = 0  # times pieces were taken; with len(pieces), what changed
        self.seen: tuple[int, int] | None = None  # (taken, len(pieces)) at the last look
        self.seen_at = 0.0  # monotonic time the pieces were last seen to change
        self.dirty_since: float | None = None  # first look that saw this line pending

    @property
    def plain(self) -> bool:
        """Nothing but the pieces is pending: new plain text may go to the pieces."""
        return not self.decoding and self.lines.clean

    def take_pieces(self) -> str:
        pieces = self.pieces
        n = len(pieces)
        taken = pieces[:n]
        del pieces[:n]
        self.taken += 1
        return taken[0] if n == 1 else "".join(taken)

    def settle(self) -> None:
        """Move the pieces into the splitter (before anything else is fed)."""
        if self.pieces:
            self.lines.feed(self.take_pieces())

    def feed(self, data: str | bytes) -> None:
        self.settle()
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

    def end_plain_line(self, sink: LineSink) -> None:
        """A newline after plain pieces (the state is :attr:`plain`)."""
        pieces = self.pieces
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
        self.taken += 1
        lines = self.lines
        if text or not lines.sent_partial:
            sink(text, None)
        lines.sent_partial = False

    def flush_if_idle(self, now: float, idle_s: float) -> None:
        """Send the pending line if it has not changed for ``idle_s`` (as the splitter
        does for its own text; here a change is seen at the flusher's looks)."""
        if self.pieces and not self.lines.clean:
            self.settle()  # appended after the state stopped being plain (a signal)
        if self.pieces:
            seen = (self.taken, len(self.pieces))
            if seen != self.seen:
                if self.seen is None or self.seen[0] != seen[0]:
                    self.dirty_since = now  # taken since the last look: a new line
                self.seen, self.seen_at = seen, now
            dirty = self.dirty_since if self.dirty_since is not None else now
            if now - self.seen_at >= idle_s or now - dirty >= MAX_PARTIAL_AGE_S:
                self.settle()
                self.lines.flush_partial()
                self.seen = self.dirty_since = None
            return
        self.seen = self.dirty_since = None
        self.lines.flush_if_idle(now, idle_s)

    def flush(self) -> None:
        self.settle()
        if self.decoding:
            self.decoding = False
            self.lines.feed(self.decoder.decode(b"", final=True))
        self.lines.flush_partial()
