"""The SSE streams: recent history first, then live, resumable without gap or duplicate.

Task stream ids are the line's ``tasklogs.seq``: ``Last-Event-ID: N`` continues with
seq > N, from the live stream when it still holds N+1, else from the store first. Run
stream ids address a line inside a bus entry: ``<entry id>/<index>``; lines served from
the store (the run's live stream had expired) carry ``s/<store cursor>``.

A client that falls behind its buffer is re-synced from the stream (or the store) at
its own pace; whatever can be found in neither is announced with a ``gap`` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool

from collector_service.errors import StoreError
from collector_service.semconv import PROCESS_EXIT_CODE, TASK_RUN_RESULT
from collector_service.store import Cursor, HistoryQuery, LogStore, StoredLog
from live_tail import sse
from live_tail.auth import Identity
from live_tail.bus import Entry, LiveBus, Subscription
from live_tail.config import LiveTailConfig
from live_tail.filters import LineFilter
from live_tail.model import Chunk, EntryId, LiveLine

__all__ = ["LiveContext", "RunPosition", "parse_run_id", "run_stream", "task_stream"]

_MAX_TS = 2**63 - 1
_PAGE = 64  # bus entries per range read
_STORE_PAGE = 1000
_POLL_S = 0.25  # how often a stream waiting for its task looks for it


@dataclass
class LiveContext:
    """What the streams share: the bus, the store, the config and the shutdown signal."""

    bus: LiveBus
    store: LogStore | None
    config: LiveTailConfig
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    subs: set[Subscription] = field(default_factory=set)
    streams: dict[str, int] = field(default_factory=dict)
    #: Times a client fell behind its buffer and was re-synced from the stream.
    lagged: int = 0

    async def subscribe(self, key: str) -> Subscription:
        sub = await self.bus.subscribe(key, self.config.client_buffer_lines)
        self.subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subs.discard(sub)
        self.bus.unsubscribe(sub)

    def shutdown(self) -> None:
        """Tell every open stream to send ``retry:`` and close (uvicorn then exits)."""
        self.closing.set()
        for sub in list(self.subs):
            sub.wake()

    def acquire(self, ident: Identity) -> bool:
        n = self.streams.get(ident.budget_key, 0)
        if n >= self.config.max_streams_per_tenant:
            return False
        self.streams[ident.budget_key] = n + 1
        return True

    def release(self, ident: Identity) -> None:
        n = self.streams.get(ident.budget_key, 0) - 1
        if n > 0:
            self.streams[ident.budget_key] = n
        else:
            self.streams.pop(ident.budget_key, None)

    async def query(self, q: HistoryQuery) -> tuple[list[StoredLog], Cursor | None]:
        """One store page, re-filtered by tenant (stores that lack the filter stay safe)."""
        if self.store is None:
            return [], None
        page = await run_in_threadpool(self.store.query, q)
        records = page.records
        if q.tenant is not None:
            records = [r for r in records if r.tenant == q.tenant]
        return records, page.next_cursor


def _prev(pos: EntryId) -> EntryId:
    return (pos[0], pos[1] - 1) if pos[1] > 0 else (pos[0] - 1, 2**63 - 1)


def _end_event(line: LiveLine, task_run_id: str, event_id: str) -> bytes:
    code = line.attributes.get(PROCESS_EXIT_CODE)
    return sse.event(
        "end",
        {
            "task_run_id": task_run_id,
            "result": line.attributes.get(TASK_RUN_RESULT, ""),
            "exit_code": int(code) if code is not None and code.lstrip("-").isdigit() else None,
            "seq": line.seq,
            "timestamp_ns": line.timestamp_ns,
        },
        event_id,
    )


def _gap(what: str, why: str, **extra: object) -> bytes:
    return sse.event("gap", {"what": what, "reason": why, **extra})


def _tenant_ok(chunk: Chunk, ident: Identity) -> bool:
    return ident.tenant is None or chunk.tenant == ident.tenant


def _store_query(
    ident: Identity,
    flt: LineFilter,
    *,
    task_run_id: str | None = None,
    pipeline_run_id: str | None = None,
    after: Cursor | None = None,
    limit: int = _STORE_PAGE,
    newest: bool = False,
) -> HistoryQuery:
    return HistoryQuery(
        task_run_id=task_run_id,
        pipeline_run_id=pipeline_run_id,
        tenant=ident.tenant,
        min_severity=flt.min_severity,
        include=flt.include,
        exclude=flt.exclude,
        text=flt.text,
        attributes=flt.attributes,
        task_name=flt.task_name,
        after=after,
        limit=limit,
        newest=newest,
    )


class _TaskStream:
    """State of one task stream: the highest seq delivered, and whether it ended."""

    def __init__(
        self, ctx: LiveContext, task_run_id: str, ident: Identity, flt: LineFilter, last: int | None
    ) -> None:
        self.ctx = ctx
        self.tid = task_run_id
        self.ident = ident
        self.flt = flt
        self.last = last
        self.end: LiveLine | None = None
        self.task_name = ""

    def _emit(self, line: LiveLine, resource: dict[str, str], out: list[bytes]) -> None:
        if line.seq and self.last is not None and line.seq <= self.last:
            if line.is_end:
                self.end = line
            return  # delivered before: never twice
        if line.seq:
            self.last = line.seq if self.last is None else max(self.last, line.seq)
        if line.is_end:
            self.end = line
        if self.flt.line_ok(line, resource):
            out.append(sse.log_event(line, self.tid, self.task_name, str(line.seq)))

    def emit_entries(self, entries: list[Entry], out: list[bytes]) -> None:
        for entry in entries:
            chunk = entry.chunk
            if not _tenant_ok(chunk, self.ident):
                continue
            self.task_name = chunk.task_name or self.task_name
            ok = self.flt.chunk_ok(chunk.resource)
            for line in chunk.lines:
                if ok:
                    self._emit(line, chunk.resource, out)
                elif line.seq:
                    self.last = max(self.last or 0, line.seq)
                    if line.is_end:
                        self.end = line

    def emit_stored(self, records: list[StoredLog], out: list[bytes]) -> None:
        for r in records:
            self.task_name = r.task_name or self.task_name
            self._emit(LiveLine.from_stored(r), r.resource_attributes, out)

    async def store_after(self, below: int | None) -> AsyncIterator[list[bytes]]:
        """Stored lines with last < seq < below, page by page."""
        after = Cursor(self.last or 0, _MAX_TS)
        while True:
            q = _store_query(self.ident, LineFilter(), task_run_id=self.tid, after=after)
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
        q = _store_query(
            self.ident, self.flt, task_run_id=self.tid, newest=True, limit=min(10_000, count)
        )
        records, _ = await self.ctx.query(q)
        keep = [r for r in records if (below is None or r.seq < below) and self.flt.stored_ok(r)]
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
            page = await self.ctx.bus.before(key, cursor, _PAGE)
            collected.extend(page)
            if len(page) < _PAGE:
                collected.reverse()
                return collected, True
            cursor = _prev(page[-1].pos)
            done, matched = self._enough(page, matched)
            if done:
                collected.reverse()
                return collected, False

    async def catch_up(self, key: str, upto: EntryId) -> AsyncIterator[list[bytes]]:
        """Everything owed up to bus position ``upto``: bus, and the store where trimmed."""
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
                    _gap(
                        f"lines {self.last + 1}..{bus_min - 1} of task run {self.tid}",
                        "trimmed from the live stream and not in the store (yet)",
                        from_seq=self.last + 1,
                        to_seq=bus_min - 1,
                    )
                ]
                self.last = bus_min - 1
        lines: list[bytes] = []
        self.emit_entries(collected, lines)
        if lines:
            yield lines

    async def _fresh(
        self, collected: list[Entry], reached_start: bool, bus_min: int | None
    ) -> AsyncIterator[list[bytes]]:
        """A fresh client: the newest ``history_lines`` matching lines. The bus part is
        formatted first (to count it) but sent after the store's older part."""
        want = self.ctx.config.history_lines
        out: list[bytes] = []
        self.emit_entries(collected, out)
        bus_lines = out[-want:] if want else []
        bus_last, bus_end = self.last, self.end
        if reached_start and len(bus_lines) < want and (bus_min is None or bus_min > 1):
            self.last = None
            first = await self.store_newest(bus_min, want - len(bus_lines))
            if first:
                yield first
            self.last = max(bus_last or 0, self.last or 0)
            self.end = bus_end or self.end
        if bus_lines:
            yield bus_lines


async def _wait_closing(ctx: LiveContext, timeout: float) -> bool:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(ctx.closing.wait(), timeout)
    return ctx.closing.is_set()


def _bye(ctx: LiveContext) -> bytes:
    return sse.retry(ctx.config.reconnect_ms) + sse.comment("server shutting down; reconnect")


async def _until_on_bus(ctx: LiveContext, st: _TaskStream) -> AsyncIterator[bytes]:
    """A task not (or no longer) on the bus: what the store has, then wait for it.

    Ends after an ``end`` event or the shutdown notice; otherwise once the task is live.
    """
    try:
        if st.last is None:
            tail = await st.store_newest(None, ctx.config.history_lines)
            if tail:
                yield b"".join(tail)
            # The tail went out; anything earlier is history, not owed.
            st.last = st.last or 0
        async for out in st.store_after(None):
            yield b"".join(out)
    except StoreError as exc:
        yield _gap("stored history", f"the store cannot answer: {exc}")
    if st.end is not None:
        yield _end_event(st.end, st.tid, str(st.end.seq))
        return
    idle = time.monotonic()
    while await ctx.bus.task_info(st.tid) is None:
        if await _wait_closing(ctx, _POLL_S):
            yield _bye(ctx)
            return
        if time.monotonic() - idle >= ctx.config.heartbeat_s:
            idle = time.monotonic()
            yield sse.comment("ping")


async def _catch_up(st: _TaskStream, key: str, sub: Subscription) -> AsyncIterator[bytes]:
    try:
        async for out in st.catch_up(key, sub.position):
            yield b"".join(out)
    except StoreError as exc:
        yield _gap("stored history", f"the store cannot answer: {exc}")
    if st.last is None:
        st.last = 0


async def task_stream(
    ctx: LiveContext, task_run_id: str, ident: Identity, flt: LineFilter, last: int | None
) -> AsyncIterator[bytes]:
    """The SSE body of ``GET /api/v1/tasks/{id}/logs/stream``."""
    st = _TaskStream(ctx, task_run_id, ident, flt, last)
    info = await ctx.bus.task_info(task_run_id)
    if info is None:
        async for out in _until_on_bus(ctx, st):
            yield out
        info = await ctx.bus.task_info(task_run_id)
        if info is None or st.end is not None or ctx.closing.is_set():
            return
    if ident.tenant is not None and info.tenant != ident.tenant:
        return  # another tenant's task appeared under this id: reveal nothing
    key = ctx.bus.task_key(info, task_run_id)
    sub = await ctx.subscribe(key)
    try:
        async for out in _catch_up(st, key, sub):
            yield out
        while st.end is None:
            entries = await sub.get(ctx.config.heartbeat_s)
            if ctx.closing.is_set() or sub.closed:
                yield _bye(ctx)
                return
            if sub.overflowed:
                # Too slow for the buffer: re-read from the stream at our own pace.
                ctx.lagged += 1
                ctx.unsubscribe(sub)
                sub = await ctx.subscribe(key)
                async for out in _catch_up(st, key, sub):
                    yield out
                continue
            if not entries:
                yield sse.comment("ping")
                continue
            lines: list[bytes] = []
            st.emit_entries(entries, lines)
            if lines:
                yield b"".join(lines)
        yield _end_event(st.end, task_run_id, str(st.end.seq))
    finally:
        ctx.unsubscribe(sub)


# -- run streams -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunPosition:
    """Where a run stream client is: inside a bus entry, or at a store cursor."""

    entry: EntryId | None = None
    index: int = -1
    cursor: Cursor | None = None


def parse_run_id(text: str) -> RunPosition | None:
    """``<ms>-<n>/<index>`` or ``s/<cursor>``; ``None`` when malformed."""
    head, sep, tail = text.partition("/")
    if not sep:
        return None
    try:
        if head == "s":
            return RunPosition(cursor=Cursor.decode(tail))
        ms, _, n = head.partition("-")
        return RunPosition(entry=(int(ms), int(n)), index=int(tail))
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
            if not _tenant_ok(chunk, self.ident) or not self.flt.chunk_ok(chunk.resource):
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
                    out.append(_end_event(line, chunk.task_run_id, f"{entry.id}/{i}"))

    async def from_store(self, after: Cursor | None, newest: int) -> AsyncIterator[list[bytes]]:
        while True:
            q = _store_query(
                self.ident,
                self.flt,
                pipeline_run_id=self.run_id,
                after=after,
                limit=min(newest, 10_000) if newest else _STORE_PAGE,
                newest=bool(newest),
            )
            records, nxt = await self.ctx.query(q)
            out: list[bytes] = []
            for r in records:
                if r.pipeline_run_id != self.run_id or not self.flt.stored_ok(r):
                    continue
                tid = r.task_run_id
                self.stored_seq[tid] = max(self.stored_seq.get(tid, 0), r.seq)
                line = LiveLine.from_stored(r)
                eid = f"s/{r.cursor.encode()}"
                out.append(sse.log_event(line, tid, r.task_name, eid))
                if line.is_end:
                    out.append(_end_event(line, tid, eid))
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
                yield _bye(ctx)
                return
            if sub.overflowed:
                ctx.lagged += 1
                resync_from = rs.pos or RunPosition(entry=sub.position, index=1 << 30)
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
        yield [_gap("stored history", f"the store cannot answer: {exc}")]


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
        page = await ctx.bus.before(key, cursor, _PAGE)
        collected.extend(page)
        lines = sum(len(e.chunk.lines) for e in collected)
        if len(page) < _PAGE or lines >= want:
            break
        cursor = _prev(page[-1].pos)
    collected.reverse()
    out: list[bytes] = []
    rs.emit_entries(collected, out)
    if want and out:
        yield out[-want:]


async def _run_resume(
    ctx: LiveContext, rs: _RunStream, key: str, upto: EntryId, start: RunPosition
) -> AsyncIterator[list[bytes]]:
    """Everything after ``start``: from the store first when it is a store cursor."""
    after: EntryId = (0, 0)
    skip = -1
    if start.cursor is not None:
        async for stored in _store_part(rs, start.cursor, 0):
            yield stored
    elif start.entry is not None:
        after, skip = start.entry, start.index
        first = await ctx.bus.first_id(key)
        if first is not None and first > start.entry:
            yield [
                _gap(
                    f"run {rs.run_id}: live entries after {start.entry[0]}-{start.entry[1]}"
                    f" and before {first[0]}-{first[1]}",
                    "trimmed from the live run stream before this client resumed; "
                    "read them with the history API",
                )
            ]
            after, skip = _prev(first), -1
    rs.pos = RunPosition(entry=after, index=skip)
    while True:
        # Include the resume entry itself: lines after ``skip`` in it are still owed.
        page = await ctx.bus.after(key, _prev(after) if skip >= 0 else after, upto, _PAGE)
        if not page:
            return
        out: list[bytes] = []
        rs.emit_entries(page, out, skip_upto=skip)
        skip = -1
        if out:
            yield out
        after = page[-1].pos
        if len(page) < _PAGE:
            return
