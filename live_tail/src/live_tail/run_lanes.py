"""A run stream's late lines: one lane per task run of the run, each held behind its
own seq hole (the logic of :mod:`live_tail.holes`, shared with task streams).

A lane whose next entry skips seqs holds it (and what follows of that task) while the
other tasks of the run go on; the late lines usually arrive within ``reorder_wait_s`` and
go out first, in seq order; otherwise the store is asked for them, and after
``hole_wait_s`` a ``gap`` event (with ``task_run_id``, ``from_seq``, ``to_seq``) stands for
what neither had, and the held lines follow.

Event ids stay exact for a ``Last-Event-ID`` resume. While no lane holds anything they
are ``<entry id>/<index>`` as ever. While one does, they carry the *mark*: the position
before the oldest entry held, ``<mark>~<entry id>/<index>`` (and
``<mark>~<entry id>/<ALL>/<seq>/<task run id>`` for a lane's lines sent out of bus order:
released from its hold or from the store). Everything up to the mark was delivered; a
resume replays the bus from the mark to the entry (each lane from its highest seq at the
mark, read from its task stream), which holds back exactly what the stream held, and the
id's seq says how far the lane of the last line got. For that replay to be exact, only
the lane holding the oldest entry turns to the store or to a ``gap`` (what the store has
goes out only when it closes the hole, or at the end of the wait): the others wait for
their late lines on the bus, or their turn.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from collector_service.component.store import Cursor, StoredLog
from live_tail import sse
from live_tail._shared import (
    MAX_TS,
    PAGE,
    LiveContext,
    end_event,
    prev_pos,
    store_query,
    tenant_ok,
)
from live_tail.auth import Identity
from live_tail.bus import Entry, TaskInfo
from live_tail.filters import LineFilter
from live_tail.holes import Holdback, emit_live, fill_hole
from live_tail.model import EntryId, LiveLine
from live_tail.run_rebuild import ALL

__all__ = ["Lane", "Lanes", "pos_text"]


def pos_text(pos: EntryId) -> str:
    return f"{pos[0]}-{pos[1]}"


class Lane:
    """One task run's part of a run stream (a :class:`~live_tail.holes.HeldStream`)."""

    def __init__(self, lanes: Lanes, tid: str, last: int | None) -> None:
        self.lanes = lanes
        self.tid = tid
        self.ident = lanes.ident
        self.last = last
        cfg = lanes.ctx.config
        self.hold = Holdback(cfg.reorder_wait_s, cfg.hole_wait_s, cfg.client_buffer_lines)

    def _id(self, entry: Entry, index: int, seq: int) -> str:
        lanes = self.lanes
        mark = lanes.mark  # as it was before this emission (updated after it)
        head = f"{pos_text(mark)}~" if mark is not None else ""
        if self.hold.held or entry.pos != lanes.at:
            # Out of bus order (released from the hold): the lane's seq says how far
            # it got, the mark what is delivered for every lane.
            return f"{head}{pos_text(lanes.at)}/{ALL}/{seq}/{self.tid}"
        return f"{head}{entry.id}/{index}"

    def emit_entries(self, entries: list[Entry], out: list[bytes]) -> None:
        lanes = self.lanes
        for entry in entries:
            chunk = entry.chunk
            ok = lanes.flt.chunk_ok(chunk.resource)
            for i, line in enumerate(chunk.lines):
                if line.seq and self.last is not None and line.seq <= self.last:
                    continue  # delivered before: never twice
                if line.seq:
                    self.last = line.seq if self.last is None else max(self.last, line.seq)
                seq = line.seq or (self.last or 0)
                if not ok or lanes.muted:
                    continue
                eid = self._id(entry, i, seq)
                if lanes.flt.line_ok(line, chunk.resource):
                    out.append(sse.log_event(line, chunk.task_run_id, chunk.task_name, eid))
                if line.is_end:
                    out.append(end_event(line, chunk.task_run_id, eid))

    async def store_after(self, below: int | None) -> AsyncIterator[list[bytes]]:
        """The stored lines last < seq < below, only once they close the hole (or the wait
        is over): a partial fill would be lost to a replay of the bus."""
        lanes = self.lanes
        after: Cursor | None = Cursor(self.last or 0, MAX_TS, line_id=MAX_TS)
        got: list[StoredLog] = []
        while after is not None:
            q = store_query(self.ident, LineFilter(), task_run_id=self.tid, after=after)
            records, after = await lanes.ctx.query(q)
            keep = [r for r in records if below is None or r.seq < below]
            got.extend(keep)
            if len(keep) < len(records):
                break
        seqs = sorted({r.seq for r in got if r.seq > (self.last or 0)})
        whole = below is not None and seqs == list(range((self.last or 0) + 1, below))
        if not got or not (whole or self.hold.give_up()):
            return
        out: list[bytes] = []
        for r in got:
            if self.last is not None and r.seq <= self.last:
                continue
            self.last = r.seq
            if lanes.muted or not lanes.flt.stored_ok(r):
                continue
            line = LiveLine.from_stored(r)
            eid = self._stored_id(r.seq)
            out.append(sse.log_event(line, self.tid, r.task_name, eid))
            if line.is_end:
                out.append(end_event(line, self.tid, eid))
        if out:
            yield out

    def _stored_id(self, seq: int) -> str:
        mark = self.lanes.mark  # a lane holds: never None here
        head = f"{pos_text(mark)}~" if mark is not None else ""
        return f"{head}{pos_text(self.lanes.at)}/{ALL}/{seq}/{self.tid}"


class Lanes:
    """Every lane of one run stream, the stream's position (``at``) and its mark."""

    def __init__(
        self,
        ctx: LiveContext,
        run_id: str,
        ident: Identity,
        flt: LineFilter,
        floors: dict[str, int],
    ) -> None:
        self.ctx = ctx
        self.run_id = run_id
        self.ident = ident
        self.flt = flt
        #: Highest seq per task delivered from the store (a lane starts above it).
        self.floors = floors
        self.lanes: dict[str, Lane] = {}
        #: The lanes that hold something (the common case: none, and O(1) per entry).
        self.holding: dict[str, Lane] = {}
        #: The last bus entry read.
        self.at: EntryId = (0, 0)
        #: Before the oldest entry any lane holds (``None``: nothing held).
        self.mark: EntryId | None = None
        #: Where a new lane's highest seq is read from its task stream.
        self.anchor: EntryId | None = None
        #: A replay: the lanes' state is rebuilt, no event goes out.
        self.muted = False
        self._index: dict[str, tuple[EntryId, EntryId]] | None = None

    async def _base(self, tid: str) -> int | None:
        """A new lane's highest seq delivered: from the store's floor, or its task
        stream's entries up to the anchor (0: the task began after it)."""
        if tid in self.floors:
            return self.floors[tid]
        anchor = self.anchor
        if anchor is None:
            return None  # a fresh stream's first lines: they start the lane
        key = self.ctx.bus.task_key(TaskInfo(self.run_id, ""), tid)
        page = await self.ctx.bus.before(key, anchor, PAGE)
        seqs = [ln.seq for e in page for ln in e.chunk.lines if ln.seq]
        if seqs:
            return max(seqs)
        if page:
            return None
        if self._index is None:
            self._index = await self.ctx.bus.run_tasks(self.run_id)
        span = self._index.get(tid)
        return 0 if span is None or span[0] > anchor else None

    async def lane(self, tid: str) -> Lane:
        lane = self.lanes.get(tid)
        if lane is None:
            lane = self.lanes[tid] = Lane(self, tid, await self._base(tid))
        return lane

    def _remark(self, lane: Lane | None = None) -> None:
        """The mark, after ``lane`` (else every lane) held or released."""
        for ln in [lane] if lane is not None else list(self.lanes.values()):
            if ln.hold.held:
                self.holding[ln.tid] = ln
            else:
                self.holding.pop(ln.tid, None)
        if not self.holding:
            self.mark = None
            return
        self.mark = prev_pos(min(ln.hold.oldest() for ln in self.holding.values()))

    async def feed(self, entries: list[Entry], out: list[bytes]) -> None:
        """The events of new bus entries, each task in seq order behind its hole."""
        for entry in entries:
            if entry.pos <= self.at:
                continue
            self.at = entry.pos
            if not tenant_ok(entry.chunk, self.ident):
                continue
            lane = await self.lane(entry.chunk.task_run_id)
            emit_live(lane, [entry], out)
            if lane.hold.held or self.holding:
                self._remark(lane)

    def _oldest(self) -> Lane | None:
        if not self.holding:
            return None
        return min(self.holding.values(), key=lambda ln: ln.hold.oldest())

    def timeout(self, heartbeat: float) -> float:
        """How long to wait for the next entry: the oldest lane's next look, at most a
        heartbeat."""
        oldest = self._oldest()
        wait = oldest.hold.timeout() if oldest is not None else None
        return heartbeat if wait is None else min(wait, heartbeat)

    async def resolve(self) -> AsyncIterator[list[bytes]]:
        """The oldest lane's look in the store (and ``gap``) when due, repeatedly while a
        lane's buffer is full (the oldest are given up first)."""
        while (oldest := self._oldest()) is not None:
            full = any(ln.hold.lines >= ln.hold.max_lines for ln in self.holding.values())
            oldest.hold.forced = full
            if not (full or oldest.hold.due()):
                return
            async for out in fill_hole(oldest):
                yield out
            self._remark(oldest)
            if oldest.hold.held and not full:
                return  # not yet: looks again later

    async def replay(
        self,
        mark: EntryId,
        upto: EntryId,
        index: int,
        floor: tuple[str, int] | None,
        entries: list[Entry],
    ) -> list[bytes]:
        """Rebuild the lanes as they were when the client's last event (``mark``~``upto``
        /``index``[/``floor``]) went out, from ``entries``, the bus's in (mark, upto];
        then the events owed of those entries (the rest of ``upto``'s, the floor lane's)."""
        self.anchor = mark
        self.muted = True
        try:
            await self.feed(entries, [])
        finally:
            self.muted = False
        self.at = max(self.at, upto)
        out: list[bytes] = []
        tail = entries[-1] if entries and entries[-1].pos == upto else None
        if tail is not None and index < ALL and floor is None:
            # The last event was line ``index`` of ``upto``, sent as it came.
            lane = self.lanes.get(tail.chunk.task_run_id)
            seqs = [ln.seq for ln in tail.chunk.lines[: index + 1] if ln.seq]
            if lane is not None and not lane.hold.held and seqs:
                lane.last = max(seqs)
                emit_live(lane, [tail], out)
        if floor is not None:
            # The last event was the floor lane's line ``seq``, sent out of bus order:
            # the lane owes what its entries in (mark, upto] have above it.
            tid, seq = floor
            lane = await self.lane(tid)
            lane.hold.clear()
            lane.last = seq
            self.mark = mark
            emit_live(lane, [e for e in entries if e.chunk.task_run_id == tid], out)
        self._remark()
        self.anchor = upto
        return out
