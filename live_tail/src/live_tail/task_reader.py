"""One task stream's state: the highest seq delivered, where it resumes, its holdback,
and how it reads what it owes from the bus and the store (:mod:`live_tail.streams`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from collector_service.component.store import Cursor, StoredLog
from live_tail import sse
from live_tail._shared import (
    MAX_TS,
    PAGE,
    LiveContext,
    gap_event,
    prev_pos,
    store_query,
    tenant_ok,
)
from live_tail.auth import Identity
from live_tail.bus import Entry, TaskInfo
from live_tail.filters import LineFilter, filter_stored
from live_tail.holes import Holdback, emit_live
from live_tail.model import EntryId, LiveLine
from live_tail.task_position import TaskPosition, line_id, stored_line_id

__all__ = ["TaskStream", "position_gap"]


class TaskStream:
    """State of one task stream: the highest seq delivered, and whether it ended."""

    def __init__(
        self,
        ctx: LiveContext,
        task_run_id: str,
        ident: Identity,
        flt: LineFilter,
        start: TaskPosition | None,
    ) -> None:
        self.ctx = ctx
        self.tid = task_run_id
        self.ident = ident
        self.flt = flt
        start = start or TaskPosition()
        self.last = start.seq
        #: Lines without a seq delivered from the store up to this timestamp ...
        self.after_ts = start.after_ts
        #: ... and exactly up to this store cursor (the store's total order).
        self.store_cursor = start.cursor if start.cursor is not None and not start.seq else None
        #: A resume inside the live stream (lines without a seq): entry and line index.
        self.resume_at = (start.entry, start.index) if start.entry is not None else None
        self.end: LiveLine | None = None
        self.task_name = ""
        #: Where the task's lines go, once it is on the bus.
        self.info: TaskInfo | None = None
        #: Live entries held behind lines published late (:mod:`live_tail.holes`).
        cfg = ctx.config
        self.hold = Holdback(cfg.reorder_wait_s, cfg.hole_wait_s, cfg.client_buffer_lines)

    def _emit(
        self,
        line: LiveLine,
        resource: dict[str, str],
        out: list[bytes],
        eid: str,
        *,
        stored: bool = False,
    ) -> None:
        if line.seq and self.last is not None and line.seq <= self.last:
            if line.is_end:
                self.end = line
            return  # delivered before: never twice
        if (
            not stored
            and not line.seq
            and self.after_ts is not None
            and line.timestamp_ns <= self.after_ts
        ):
            # A live line without a seq at or before what the store delivered (stored
            # lines come after the store cursor in its total order: never twice).
            return
        if line.seq:
            self.last = line.seq if self.last is None else max(self.last, line.seq)
        if line.is_end:
            self.end = line
        if self.flt.line_ok(line, resource):
            out.append(sse.log_event(line, self.tid, self.task_name, eid))

    def emit_entries(
        self,
        entries: list[Entry],
        out: list[bytes],
        *,
        shared: bool = True,
        skip: tuple[EntryId, int] | None = None,
    ) -> None:
        """Append the events of ``entries`` to ``out``: one item per line, except that
        with ``shared`` an entry may come as one item of all its lines. ``skip``: lines up
        to that index of that entry were delivered before."""
        plain = shared and not self.flt.active and self.after_ts is None
        for entry in entries:
            chunk = entry.chunk
            if not tenant_ok(chunk, self.ident):
                continue
            self.task_name = chunk.task_name or self.task_name
            first = skip[1] + 1 if skip is not None and skip[0] == entry.pos else 0
            if plain and not first and self._shared(entry, out):
                continue
            ok = self.flt.chunk_ok(chunk.resource)
            for i in range(first, len(chunk.lines)):
                line = chunk.lines[i]
                if ok:
                    self._emit(line, chunk.resource, out, line_id(line, entry.id, i))
                elif line.seq:
                    self.last = max(self.last or 0, line.seq)
                    if line.is_end:
                        self.end = line

    def _shared(self, entry: Entry, out: list[bytes]) -> bool:
        """An unfiltered client that has none of the entry's lines yet takes the bytes
        every such client gets (formatted once); the same events as :meth:`_emit`'s."""
        events = self.ctx.shared.task_events(entry, self.tid, self.task_name)
        if not events.ordered or (
            self.last is not None and events.min_seq is not None and events.min_seq <= self.last
        ):
            return False  # some of it was delivered before: line by line, never twice
        out.append(events.data)
        if events.max_seq is not None:
            self.last = events.max_seq if self.last is None else max(self.last, events.max_seq)
        if events.end is not None:
            self.end = events.end
        return True

    def emit_stored(self, records: list[StoredLog], out: list[bytes]) -> None:
        for r in records:
            self.task_name = r.task_name or self.task_name
            line = LiveLine.from_stored(r)
            eid = stored_line_id(line, r.cursor)
            self._emit(line, r.resource_attributes, out, eid, stored=True)
            if not r.seq:
                self.after_ts = max(self.after_ts or 0, r.timestamp_ns)
                self.store_cursor = r.cursor

    async def store_after(self, below: int | None) -> AsyncIterator[list[bytes]]:
        """Stored lines with last < seq < below (and lines without a seq after the store
        cursor), page by page."""
        if not self.last and self.store_cursor is not None:
            after = self.store_cursor
        else:
            ts = self.after_ts if self.after_ts is not None and not self.last else MAX_TS
            after = Cursor(self.last or 0, ts, line_id=MAX_TS)
        while True:
            q = store_query(self.ident, LineFilter(), task_run_id=self.tid, after=after)
            records, nxt = await self.ctx.query(q)
            keep = [r for r in records if below is None or r.seq < below]
            out: list[bytes] = []
            self.emit_stored(keep, out)
            if out:
                yield out
            if nxt is None or len(keep) < len(records):
                return
            after = nxt

    async def store_newest(self, below: int | None, count: int) -> list[bytes]:
        """The last ``count`` matching stored lines with seq < below (a late joiner)."""
        out: list[bytes] = []
        if count <= 0:
            return out
        q = store_query(
            self.ident, self.flt, task_run_id=self.tid, newest=True, limit=min(10_000, count)
        )
        records, _ = await self.ctx.query(q)
        keep = await filter_stored(
            records, lambda r: (below is None or r.seq < below) and self.flt.stored_ok(r), self.flt
        )
        self.emit_stored(keep[-count:], out)
        return out

    def _enough(self, page: list[Entry], matched: int) -> tuple[bool, int]:
        """Whether reading further back is pointless (for a resume, or a fresh client)."""
        if self.last is not None:
            oldest = [ln.seq for ln in page[-1].chunk.lines if ln.seq]
            return bool(oldest) and min(oldest) <= self.last + 1, matched
        matched += sum(
            1
            for e in page
            if self.flt.chunk_ok(e.chunk.resource)
            for ln in e.chunk.lines
            if self.flt.line_ok(ln, e.chunk.resource)
        )
        return matched >= self.ctx.config.history_lines, matched

    async def _read_back(self, key: str, upto: EntryId) -> tuple[list[Entry], bool]:
        """Entries up to ``upto``, oldest first, as far back as needed; and whether the
        stream's start was reached."""
        collected: list[Entry] = []
        cursor, matched = upto, 0
        while True:
            page = await self.ctx.bus.before(key, cursor, PAGE)
            collected.extend(page)
            if len(page) < PAGE:
                collected.reverse()
                return collected, True
            cursor = prev_pos(page[-1].pos)
            done, matched = self._enough(page, matched)
            if done:
                collected.reverse()
                return collected, False

    async def from_position(self, key: str, upto: EntryId) -> AsyncIterator[list[bytes]]:
        """A resume at a place in the live stream: what follows it there, up to ``upto``
        (a ``gap`` first when the stream no longer holds that place)."""
        if self.resume_at is None:
            return
        pos, index = self.resume_at
        skip: tuple[EntryId, int] | None = self.resume_at
        self.resume_at = None
        first = await self.ctx.bus.first_id(key)
        start = prev_pos(pos)  # the resume entry itself: its lines after ``index`` are owed
        if first is None or first > pos:
            yield [position_gap(self.tid, pos, index)]
            skip, start = None, (0, 0)
        while True:
            page = await self.ctx.bus.after(key, start, upto, PAGE)
            out: list[bytes] = []
            self.emit_entries(page, out, skip=skip)
            if out:
                yield out
            if len(page) < PAGE:
                return
            start = page[-1].pos

    async def catch_up(self, key: str, upto: EntryId) -> AsyncIterator[list[bytes]]:
        """Everything owed up to bus position ``upto``: bus, and the store where trimmed."""
        if self.resume_at is not None:
            async for out in self.from_position(key, upto):
                yield out
            return
        collected, reached_start = await self._read_back(key, upto)
        seqs = [ln.seq for e in collected for ln in e.chunk.lines if ln.seq]
        bus_min = min(seqs) if seqs else None
        if self.last is None:
            async for out in self._fresh(collected, reached_start, bus_min):
                yield out
            return
        # A resuming client: everything after ``last``.
        if reached_start and (bus_min is None or bus_min > self.last + 1):
            async for out in self.store_after(bus_min):
                yield out
            if bus_min is not None and self.last + 1 < bus_min:
                yield [
                    gap_event(
                        f"lines {self.last + 1}..{bus_min - 1} of task run {self.tid}",
                        "trimmed from the live stream and not in the store (yet)",
                        from_seq=self.last + 1,
                        to_seq=bus_min - 1,
                    )
                ]
                self.last = bus_min - 1
        lines: list[bytes] = []
        emit_live(self, collected, lines)  # in seq order, even if published out of it
        if lines:
            yield lines

    async def _fresh(
        self, collected: list[Entry], reached_start: bool, bus_min: int | None
    ) -> AsyncIterator[list[bytes]]:
        """A fresh client: the newest ``history_lines`` matching lines. The bus part is
        formatted first (to count it) but sent after the store's older part."""
        want = self.ctx.config.history_lines
        out: list[bytes] = []
        self.emit_entries(collected, out, shared=False)  # one item per line: counted
        bus_lines = out[-want:] if want else []
        bus_last, bus_end = self.last, self.end
        # The store's older part: where the stream lost the task's first lines (or holds
        # nothing). Lines without a seq cannot be told apart from the bus's: bus only.
        older = bus_min > 1 if bus_min is not None else not collected
        if reached_start and len(bus_lines) < want and older:
            self.last = None
            first = await self.store_newest(bus_min, want - len(bus_lines))
            if first:
                yield first
            self.last = max(bus_last or 0, self.last or 0)
            self.end = bus_end or self.end
        if bus_lines:
            yield bus_lines


def position_gap(tid: str, pos: EntryId, index: int) -> bytes:
    return gap_event(
        f"lines of task run {tid} after {pos[0]}-{pos[1]}/{index}",
        "trimmed from the live stream before this client resumed; lines without a "
        "tasklogs.seq cannot be placed in the store's order: read them with the history API",
    )
