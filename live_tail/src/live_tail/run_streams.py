"""Run streams: every task of a pipeline run, tasks that start later included.

Event ids address a line inside a bus entry, ``<entry id>/<index>``, or a stored line:
``s/<store cursor>`` (when the run's live stream was empty) or
``<entry id>/<index>/<seq>/<task run id>`` (a task's lines that a rebuilt run stream took
from the store). A resume at a bus position the run stream no longer holds is rebuilt
from the task streams (:mod:`live_tail.run_rebuild`), exactly.

Each task run of the run is a lane held behind its own seq hole (late lines: see
:mod:`live_tail.run_lanes`); while one holds, ids carry the mark, ``<mark>~<id>``.
"""

from __future__ import annotations

import asyncio
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
from live_tail.run_lanes import Lanes
from live_tail.run_rebuild import ALL, Fill, fill_events, rebuild_items
from live_tail.task_position import MAX_RESUME_CHARS, decode_cursor, in_range

__all__ = ["RunPosition", "parse_run_id", "run_stream"]


@dataclass(frozen=True, slots=True)
class RunPosition:
    """Where a run stream client is: inside a bus entry, or at a store cursor."""

    entry: EntryId | None = None
    index: int = -1
    cursor: Cursor | None = None
    #: A task whose lines up to this seq were delivered from the store, past ``entry``
    #: (with a ``mark``: the lane of the last line, sent out of bus order).
    floor: tuple[str, int] | None = None
    #: Every line up to here was delivered; lanes held after it (:mod:`.run_lanes`).
    mark: EntryId | None = None


def parse_run_id(text: str) -> RunPosition | None:
    """``[<ms>-<n>~]<ms>-<n>/<index>[/<seq>/<task run id>]`` or ``s/<cursor>``; ``None``
    when malformed."""
    head, sep, tail = text.partition("/")
    if not sep or len(text) > MAX_RESUME_CHARS:
        return None
    try:
        if head == "s":
            return RunPosition(cursor=decode_cursor(tail))
        mark_text, tilde, head = head.rpartition("~")
        mark = _parse_pos(mark_text) if tilde else None
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
        return RunPosition(entry=(int(ms), int(n)), index=int(index), floor=floor, mark=mark)
    except (ValueError, StoreError):
        return None


def _parse_pos(text: str) -> EntryId:
    ms, _, n = text.partition("-")
    if not in_range(int(ms), int(n)):
        raise ValueError(text)
    return (int(ms), int(n))


class _RunStream:
    def caught_up(self, upto: EntryId) -> None:
        """Past the catch-up: new lanes read their highest seq up to ``upto``."""
        self.lanes.at = max(self.lanes.at, upto)
        self.lanes.anchor = self.lanes.at

    def reset_lanes(self) -> None:
        self.lanes = Lanes(self.ctx, self.run_id, self.ident, self.flt, self.stored_seq)

    def __init__(self, ctx: LiveContext, run_id: str, ident: Identity, flt: LineFilter) -> None:
        self.ctx = ctx
        self.run_id = run_id
        self.ident = ident
        self.flt = flt
        self.pos: RunPosition | None = None
        #: Highest seq per task delivered from the store (dedupe against the bus).
        self.stored_seq: dict[str, int] = {}
        #: One lane per task run: its lines in seq order behind its hole.
        self.lanes = Lanes(ctx, run_id, ident, flt, self.stored_seq)

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
    loop = asyncio.get_running_loop()
    try:
        async for out in _run_catch_up(ctx, rs, key, sub.position, start):
            yield b"".join(out)
        rs.caught_up(sub.position)
        sent = loop.time()
        while True:
            entries = await sub.get(rs.lanes.timeout(heartbeat))
            if ctx.closing.is_set() or sub.closed:
                yield bye(ctx)
                return
            if sub.overflowed:
                ctx.lag()
                ctx.unsubscribe(sub)
                sub = await ctx.subscribe(key)
                async for out in _resync(ctx, rs, key, sub.position):
                    yield b"".join(out)
                rs.caught_up(sub.position)
                sent = loop.time()
                continue
            lines: list[bytes] = []
            await rs.lanes.feed(entries, lines)
            async for filled in rs.lanes.resolve():
                lines.extend(filled)
            if lines:
                sent = loop.time()
                yield b"".join(lines)
            elif not entries and loop.time() - sent >= heartbeat * 0.9:
                sent = loop.time()
                yield sse.comment("ping")
    finally:
        ctx.unsubscribe(sub)


async def _read_on(
    ctx: LiveContext, rs: _RunStream, key: str, upto: EntryId
) -> AsyncIterator[list[bytes]]:
    """The bus's entries after the lanes' position up to ``upto``, through the lanes."""
    while True:
        page = await ctx.bus.after(key, rs.lanes.at, upto, PAGE)
        out: list[bytes] = []
        await rs.lanes.feed(page, out)
        if out:
            yield out
        if len(page) < PAGE:
            return


def _holds_after(first: EntryId | None, pos: EntryId) -> bool:
    """Whether the stream (oldest entry ``first``) still holds every entry after ``pos``."""
    return first is not None and (first <= pos or prev_pos(first) == pos)


async def _resync(
    ctx: LiveContext, rs: _RunStream, key: str, upto: EntryId
) -> AsyncIterator[list[bytes]]:
    """After an overflow: on from the lanes' position, or rebuilt where it was trimmed."""
    if _holds_after(await ctx.bus.first_id(key), rs.lanes.at):
        async for out in _read_on(ctx, rs, key, upto):
            yield out
        return
    # Trimmed past the lanes: rebuilt from their mark (nothing lost; lines sent since
    # may come again) or from the last entry read.
    start = RunPosition(entry=rs.lanes.mark or rs.lanes.at, index=ALL)
    rs.reset_lanes()
    async for out in _run_resume(ctx, rs, key, upto, start):
        yield out


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
    await rs.lanes.feed(collected, out)  # each task's first line here starts its lane
    if want and out:
        yield out[-want:]


async def _range(ctx: LiveContext, key: str, after: EntryId, upto: EntryId) -> list[Entry]:
    """Every entry in (after, upto], oldest first."""
    got: list[Entry] = []
    while True:
        page = await ctx.bus.after(key, after, upto, PAGE)
        got.extend(page)
        if len(page) < PAGE:
            return got
        after = page[-1].pos


async def _run_resume(
    ctx: LiveContext, rs: _RunStream, key: str, upto: EntryId, start: RunPosition
) -> AsyncIterator[list[bytes]]:
    """Everything after ``start``: from the store first when it is a store cursor; from
    the task streams when the run stream no longer holds ``start``. Where the bus holds
    it, the lanes are replayed to where the client was (:meth:`Lanes.replay`)."""
    if start.cursor is not None:
        async for stored in _store_part(rs, start.cursor, 0):
            yield stored
        rs.lanes.anchor = (0, 0)  # lanes start above the store's floors (or at 0)
        async for out in _read_on(ctx, rs, key, upto):
            yield out
        return
    if start.entry is None:
        return
    first = await ctx.bus.first_id(key)
    mark = start.mark
    if mark is None and start.floor is None:
        mark = prev_pos(start.entry)
    if mark is not None and _holds_after(first, mark):
        entries = await _range(ctx, key, mark, start.entry)
        tail = entries[-1] if entries and entries[-1].pos == start.entry else None
        if not (start.mark is None and tail is not None and _seqless(tail, start.index)):
            out = await rs.lanes.replay(mark, start.entry, start.index, start.floor, entries)
            if out:
                yield out
            async for more in _read_on(ctx, rs, key, upto):
                yield more
            return
    if start.floor is None and _holds_after(first, prev_pos(start.entry)):
        async for out in _plain_resume(ctx, rs, key, upto, start):
            yield out
        return
    # A floor names a task's lines served from the store: only a rebuild has them.
    rs.pos = RunPosition(entry=start.entry, index=start.index, floor=start.floor)
    async for rebuilt in _rebuilt(ctx, rs, start.entry, upto, start.floor):
        yield rebuilt
    rs.lanes.at = upto


def _seqless(entry: Entry, index: int) -> bool:
    """Whether the lines up to ``index`` have no seq (their place: by index only)."""
    return index < ALL and not any(ln.seq for ln in entry.chunk.lines[: index + 1])


async def _plain_resume(
    ctx: LiveContext, rs: _RunStream, key: str, upto: EntryId, start: RunPosition
) -> AsyncIterator[list[bytes]]:
    """A resume inside an entry whose lines have no seq: by index, as they came."""
    assert start.entry is not None
    after, skip = start.entry, start.index
    rs.pos = RunPosition(entry=after, index=skip)
    while True:
        # Include the resume entry itself: lines after ``skip`` in it are still owed.
        page = await ctx.bus.after(key, prev_pos(after) if skip >= 0 else after, upto, PAGE)
        if not page:
            return
        out: list[bytes] = []
        rs.emit_entries(page, out, skip_upto=skip)
        rs.lanes.at = page[-1].pos
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
