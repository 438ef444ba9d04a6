"""Run streams: every task of a pipeline run, tasks that start later included.

Event ids address a line inside a bus entry, ``<entry id>/<index>``, or a stored line:
``s/<store cursor>`` (when the run's live stream was empty) or
``<entry id>/<index>/<seq>/<task run id>`` (a task's lines that a rebuilt run stream took
from the store). A resume at a bus position the run stream no longer holds is rebuilt
from the task streams (:mod:`live_tail.run_rebuild`), exactly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from collector_service.component.store import Cursor, StoredLog
from collector_service.errors import StoreError
from live_tail import sse
from live_tail._shared import (
    PAGE,
    STORE_PAGE,
    LiveContext,
    bye,
    end_event,
    gap_event,
    prev_pos,
    store_query,
    tenant_ok,
)
from live_tail.auth import Identity
from live_tail.bus import Entry
from live_tail.filters import LineFilter, filter_stored
from live_tail.model import EntryId, LiveLine
from live_tail.run_rebuild import ALL, Fill, fill_events, rebuild_items
from live_tail.task_position import MAX_RESUME_CHARS, decode_cursor, in_range

__all__ = ["RunPosition", "parse_run_id", "run_stream"]


@dataclass(frozen=True, slots=True)
class RunPosition:
    """Where a run stream client is: inside a bus entry, or at a store cursor."""

    entry: EntryId | None = None
    index: int = -1
    cursor: Cursor | None = None
    #: A task whose lines up to this seq were delivered from the store, past ``entry``.
    floor: tuple[str, int] | None = None


def parse_run_id(text: str) -> RunPosition | None:
    """``<ms>-<n>/<index>[/<seq>/<task run id>]`` or ``s/<cursor>``; ``None`` when
    malformed."""
    head, sep, tail = text.partition("/")
    if not sep or len(text) > MAX_RESUME_CHARS:
        return None
    try:
        if head == "s":
            return RunPosition(cursor=decode_cursor(tail))
        ms, _, n = head.partition("-")
        index, _, rest = tail.partition("/")
        floor = None
        if rest:
            seq, _, tid = rest.partition("/")
            if not tid or not in_range(int(seq)):
                return None
            floor = (tid, int(seq))
        if not in_range(int(ms), int(n), int(index)):
            return None
        return RunPosition(entry=(int(ms), int(n)), index=int(index), floor=floor)
    except (ValueError, StoreError):
        return None


class _RunStream:
    def __init__(self, ctx: LiveContext, run_id: str, ident: Identity, flt: LineFilter) -> None:
        self.ctx = ctx
        self.run_id = run_id
        self.ident = ident
        self.flt = flt
        self.pos: RunPosition | None = None
        #: Highest seq per task delivered from the store (dedupe against the bus).
        self.stored_seq: dict[str, int] = {}

    def emit_entries(self, entries: list[Entry], out: list[bytes], skip_upto: int = -1) -> None:
        first = True
        for entry in entries:
            chunk = entry.chunk
            start = skip_upto + 1 if first and self.pos and self.pos.entry == entry.pos else 0
            first = False
            self.pos = RunPosition(entry=entry.pos, index=len(chunk.lines) - 1)
            if not tenant_ok(chunk, self.ident) or not self.flt.chunk_ok(chunk.resource):
                continue
            floor = self.stored_seq.get(chunk.task_run_id, 0)
            for i in range(start, len(chunk.lines)):
                line = chunk.lines[i]
                if line.seq and line.seq <= floor:
                    continue
                if self.flt.line_ok(line, chunk.resource):
                    out.append(
                        sse.log_event(line, chunk.task_run_id, chunk.task_name, f"{entry.id}/{i}")
                    )
                if line.is_end:
                    out.append(end_event(line, chunk.task_run_id, f"{entry.id}/{i}"))

    def _stored_ok(self, record: StoredLog) -> bool:
        return record.pipeline_run_id == self.run_id and self.flt.stored_ok(record)

    async def from_store(self, after: Cursor | None, newest: int) -> AsyncIterator[list[bytes]]:
        while True:
            q = store_query(
                self.ident,
                self.flt,
                pipeline_run_id=self.run_id,
                after=after,
                limit=min(newest, 10_000) if newest else STORE_PAGE,
                newest=bool(newest),
            )
            records, nxt = await self.ctx.query(q)
            out: list[bytes] = []
            matched = await filter_stored(records, self._stored_ok, self.flt)
            for r in matched:
                tid = r.task_run_id
                self.stored_seq[tid] = max(self.stored_seq.get(tid, 0), r.seq)
                line = LiveLine.from_stored(r)
                eid = f"s/{r.cursor.encode()}"
                out.append(sse.log_event(line, tid, r.task_name, eid))
                if line.is_end:
                    out.append(end_event(line, tid, eid))
            if out:
                yield out
            if newest or nxt is None:
                return
            after = nxt


async def run_stream(
    ctx: LiveContext, run_id: str, ident: Identity, flt: LineFilter, start: RunPosition | None
) -> AsyncIterator[bytes]:
    """The SSE body of ``GET /api/v1/runs/{run_id}/logs/stream``: every task, new ones too."""
    rs = _RunStream(ctx, run_id, ident, flt)
    key = ctx.bus.run_key(run_id)
    sub = await ctx.subscribe(key)
    heartbeat = ctx.config.heartbeat_s
    try:
        resync_from: RunPosition | None = start
        fresh = start is None
        while True:
            if fresh or resync_from is not None:
                async for out in _run_catch_up(ctx, rs, key, sub.position, resync_from):
                    yield b"".join(out)
                fresh, resync_from = False, None
            entries = await sub.get(heartbeat)
            if ctx.closing.is_set() or sub.closed:
                yield bye(ctx)
                return
            if sub.overflowed:
                ctx.lag()
                resync_from = rs.pos or RunPosition(entry=sub.position, index=ALL)
                ctx.unsubscribe(sub)
                sub = await ctx.subscribe(key)
                continue
            if not entries:
                yield sse.comment("ping")
                continue
            lines: list[bytes] = []
            rs.emit_entries(entries, lines)
            if lines:
                yield b"".join(lines)
    finally:
        ctx.unsubscribe(sub)


async def _store_part(
    rs: _RunStream, after: Cursor | None, newest: int
) -> AsyncIterator[list[bytes]]:
    try:
        async for out in rs.from_store(after, newest):
            yield out
    except StoreError as exc:
        yield [gap_event("stored history", f"the store cannot answer: {exc}")]


async def _run_catch_up(
    ctx: LiveContext, rs: _RunStream, key: str, upto: EntryId, start: RunPosition | None
) -> AsyncIterator[list[bytes]]:
    if start is None:
        gen = _run_fresh(ctx, rs, key, upto)
    else:
        gen = _run_resume(ctx, rs, key, upto, start)
    async for out in gen:
        yield out


async def _run_fresh(
    ctx: LiveContext, rs: _RunStream, key: str, upto: EntryId
) -> AsyncIterator[list[bytes]]:
    """The newest ``history_lines`` matching lines of the run: bus, else the store."""
    want = ctx.config.history_lines
    if await ctx.bus.first_id(key) is None:
        async for stored in _store_part(rs, None, want):
            yield stored
        return
    collected: list[Entry] = []
    cursor = upto
    while True:
        page = await ctx.bus.before(key, cursor, PAGE)
        collected.extend(page)
        lines = sum(len(e.chunk.lines) for e in collected)
        if len(page) < PAGE or lines >= want:
            break
        cursor = prev_pos(page[-1].pos)
    collected.reverse()
    out: list[bytes] = []
    rs.emit_entries(collected, out)
    if want and out:
        yield out[-want:]


async def _run_resume(
    ctx: LiveContext, rs: _RunStream, key: str, upto: EntryId, start: RunPosition
) -> AsyncIterator[list[bytes]]:
    """Everything after ``start``: from the store first when it is a store cursor; from
    the task streams when the run stream no longer holds ``start``."""
    after: EntryId = (0, 0)
    skip = -1
    if start.cursor is not None:
        async for stored in _store_part(rs, start.cursor, 0):
            yield stored
    elif start.entry is not None:
        after, skip = start.entry, start.index
        first = await ctx.bus.first_id(key)
        # A floor names a task's lines served from the store: only a rebuild has them.
        if start.floor is not None or (first is not None and first > start.entry):
            rs.pos = start
            async for rebuilt in _rebuilt(ctx, rs, start.entry, upto, start.floor):
                yield rebuilt
            return
    rs.pos = RunPosition(entry=after, index=skip)
    while True:
        # Include the resume entry itself: lines after ``skip`` in it are still owed.
        page = await ctx.bus.after(key, prev_pos(after) if skip >= 0 else after, upto, PAGE)
        if not page:
            return
        out: list[bytes] = []
        rs.emit_entries(page, out, skip_upto=skip)
        skip = -1
        if out:
            yield out
        after = page[-1].pos
        if len(page) < PAGE:
            return


async def _rebuilt(
    ctx: LiveContext,
    rs: _RunStream,
    start: EntryId,
    upto: EntryId,
    floor: tuple[str, int] | None,
) -> AsyncIterator[list[bytes]]:
    skip = rs.pos.index if rs.pos is not None else -1
    out: list[bytes] = []
    async for item in rebuild_items(ctx, rs.run_id, start, upto, floor):
        if isinstance(item, Fill):
            if out:
                yield out
                out = []
            async for stored in fill_events(ctx, rs.ident, rs.flt, item, rs.stored_seq):
                yield stored
            tid = item.task_run_id
            rs.pos = RunPosition(item.anchor, ALL, floor=(tid, rs.stored_seq.get(tid, 0)))
            continue
        rs.emit_entries([item], out, skip_upto=skip if item.pos == start else -1)
        if len(out) >= STORE_PAGE:
            yield out
            out = []
    if out:
        yield out
