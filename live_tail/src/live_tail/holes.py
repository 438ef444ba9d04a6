"""Task stream lines in seq order when the bus publishes them out of order.

The live tail group may have several consumers (``tasklogs serve`` and any ``tasklogs
worker``), and a consumer that dies mid-batch leaves its pending entries to another,
which claims them (``XCLAIM``) only once the dead one's heartbeat lapsed: by then newer
entries of the same task are on the bus. A task stream delivers seqs in order and
drops a seq at or below its last one as delivered before, so those late lines were
silently lost to every follower.

So a task stream whose next entry skips seqs (first seq > last + 1) holds that entry
and everything after it (:class:`Holdback`): the late lines usually arrive within
:attr:`~live_tail.config.LiveTailConfig.reorder_wait_s` and go out first, in order.
Otherwise the stream looks for them in the store (every 0.5 s, until
``hole_wait_s`` after the hole was found); whatever neither brought is announced with
a ``gap`` event naming ``from_seq``/``to_seq``, and the held entries follow. Event ids
stay seqs, so a ``Last-Event-ID`` resume remains exact.

The same logic serves a run stream, per task run of the run (:mod:`live_tail.run_lanes`):
anything with the :class:`HeldStream` shape (a task stream, a run stream's lane) has its
own :class:`Holdback` and highest seq delivered.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Protocol

from collector_service.errors import StoreError
from live_tail._shared import gap_event, tenant_ok
from live_tail.auth import Identity
from live_tail.bus import Entry

__all__ = ["HeldStream", "Holdback", "emit_live", "fill_hole", "first_seq", "live_lines"]

#: How often a held stream asks the store for its missing lines.
_STORE_POLL_S = 0.5


def first_seq(entry: Entry) -> int | None:
    """The lowest non-zero seq of the entry's lines (``None``: none has one)."""
    seqs = [ln.seq for ln in entry.chunk.lines if ln.seq]
    return min(seqs) if seqs else None


class Holdback:
    """Entries held back behind a hole, oldest seq first, and when to look again."""

    def __init__(self, reorder_wait_s: float, hole_wait_s: float, max_lines: int) -> None:
        self.reorder_wait_s = reorder_wait_s
        self.hole_wait_s = hole_wait_s
        self.max_lines = max_lines
        self.held: list[Entry] = []
        self.lines = 0
        self.since = 0.0
        self.next_check = 0.0
        #: Give up at the next look (a run stream: another lane's buffer is full).
        self.forced = False

    def merge(self, entries: list[Entry]) -> list[Entry]:
        """The held entries and ``entries``, in seq order (stable: entries without a seq
        keep their place relative to what came with them)."""
        pending = self.held + entries
        keys: list[int] = []
        key = 0
        for entry in pending:
            seq = first_seq(entry)
            key = seq if seq is not None else key
            keys.append(key)
        order = sorted(range(len(pending)), key=keys.__getitem__)
        return [pending[i] for i in order]

    def keep(self, entries: list[Entry]) -> None:
        if entries and not self.held:
            now = time.monotonic()
            self.since, self.next_check = now, now + self.reorder_wait_s
        self.held = entries
        self.lines = sum(len(e.chunk.lines) for e in entries)

    def clear(self) -> None:
        self.keep([])
        self.forced = False

    def timeout(self) -> float | None:
        """How long the stream may wait for its next entry (``None``: no hole)."""
        if not self.held:
            return None
        return max(0.0, self.next_check - time.monotonic())

    def due(self) -> bool:
        """Whether it is time to look in the store (or the buffer is full)."""
        return bool(self.held) and (
            time.monotonic() >= self.next_check or self.lines >= self.max_lines
        )

    def give_up(self) -> bool:
        return (
            self.forced
            or time.monotonic() - self.since >= self.hole_wait_s
            or self.lines >= self.max_lines
        )

    def oldest(self) -> tuple[int, int]:
        """The lowest bus position held (a run stream resolves its lanes oldest first)."""
        return min(e.pos for e in self.held)


class HeldStream(Protocol):
    """What the hole logic needs of a stream of one task run's lines."""

    tid: str
    ident: Identity
    hold: Holdback
    #: The highest seq delivered (``None``: nothing yet, no hole can be told).
    last: int | None

    def emit_entries(self, entries: list[Entry], out: list[bytes]) -> None:
        """Append the events of ``entries`` (lines at or below ``last``: never twice)."""

    def store_after(self, below: int | None) -> AsyncIterator[list[bytes]]:
        """The stored lines with ``last`` < seq < ``below``, page by page."""


def emit_live(st: HeldStream, entries: list[Entry], out: list[bytes]) -> None:
    """Append the events of ``entries`` (and of what was held) in seq order, holding
    back from the first entry that would skip seqs."""
    hold = st.hold
    ok = [e for e in entries if tenant_ok(e.chunk, st.ident)]
    pending = hold.merge(ok)
    for i, entry in enumerate(pending):
        first = first_seq(entry)
        if st.last is not None and first is not None and first > st.last + 1:
            hold.keep(pending[i:])
            return
        st.emit_entries([entry], out)
    hold.clear()


async def fill_hole(st: HeldStream) -> AsyncIterator[list[bytes]]:
    """The missing lines from the store; when the wait is over, a ``gap`` for what is
    still missing, then the held entries."""
    hold = st.hold
    below = first_seq(hold.held[0]) if hold.held else None
    if below is None or st.last is None:
        return
    why = "not on the live stream nor in the store (yet)"
    try:
        async for out in st.store_after(below):
            yield out
    except StoreError as exc:
        why = f"not on the live stream, and the store cannot answer: {exc}"
    if st.last + 1 < below and not hold.give_up():
        hold.next_check = time.monotonic() + _STORE_POLL_S
        return
    if st.last + 1 < below:
        yield [
            gap_event(
                f"lines {st.last + 1}..{below - 1} of task run {st.tid}",
                why,
                task_run_id=st.tid,
                from_seq=st.last + 1,
                to_seq=below - 1,
            )
        ]
        st.last = below - 1
    rest: list[bytes] = []
    emit_live(st, [], rest)
    if rest:
        yield rest


async def live_lines(st: HeldStream, entries: list[Entry]) -> list[bytes]:
    """The events of newly arrived ``entries`` (in seq order, behind any hole), and what
    a due look in the store for the hole found."""
    lines: list[bytes] = []
    if entries:
        emit_live(st, entries, lines)
    if st.hold.due():
        async for filled in fill_hole(st):
            lines.extend(filled)
    return lines
