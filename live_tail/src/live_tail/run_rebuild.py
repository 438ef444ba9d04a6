"""Rebuild a run stream from its task streams where the run stream was trimmed.

A run stream holds every task's lines, so it is trimmed long before any one task
stream. Each chunk has the same entry id in its task stream and in its run stream, and
the bus keeps each run's task index (first and last entry id of every task run), so a
client resuming at run position ``P`` that the run stream no longer holds is served,
exactly, by merging the task streams of the tasks that published after ``P`` in entry-id
order: the same lines, in the same order, with the same event ids, as the run stream
would have given.

Where a task stream was trimmed past ``P`` as well, what the task owes is known when the
task started after ``P`` (from seq 1) or when the client's id carries the task's seq (a
line that came from the store, ``<entry>/<index>/<seq>/<task run id>``): those lines come
from the store, just before the task's oldest held entry. Otherwise what is owed cannot be
known, and a ``gap`` event names the task and the seqs it may miss.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import AsyncIterator
from dataclasses import dataclass

from collector_service.component.store import Cursor
from collector_service.errors import StoreError
from live_tail import sse
from live_tail._shared import MAX_TS, LiveContext, end_event, gap_event, prev_pos, store_query
from live_tail.auth import Identity
from live_tail.bus import Entry, TaskInfo
from live_tail.filters import LineFilter
from live_tail.model import EntryId, LiveLine

__all__ = ["ALL", "Fill", "fill_events", "rebuild_items"]

#: Index meaning "every line of the entry": a position after the whole entry.
ALL = 1 << 30
#: Entries read per task at a time: the merge holds one page per task of the run, so
#: memory stays ``tasks x _PAGE`` entries however long the client was away.
_PAGE = 8

_Item = tuple[EntryId, int, int, "Fill | Entry"]


@dataclass(frozen=True, slots=True)
class Fill:
    """Lines of one task the bus no longer holds: seq in (``after``, ``below``) from the
    store (``after`` None: unknown, a gap), placed at ``anchor`` (ids: ``anchor/ALL``)."""

    task_run_id: str
    after: int | None
    below: int | None
    anchor: EntryId

    def event_id(self, seq: int) -> str:
        return f"{self.anchor[0]}-{self.anchor[1]}/{ALL}/{seq}/{self.task_run_id}"


async def _task_items(
    ctx: LiveContext,
    run_id: str,
    tid: str,
    *,
    started: EntryId,
    start: EntryId,
    upto: EntryId,
    floor: int | None,
) -> AsyncIterator[tuple[EntryId, int, Fill | Entry]]:
    """One task's part of the rebuilt run stream after ``start``, in entry-id order."""
    key = ctx.bus.task_key(TaskInfo(run_id, ""), tid)
    held = await ctx.bus.first_id(key)
    page = await ctx.bus.after(key, prev_pos(start), upto, _PAGE)
    if held is None or (held > start and held != started):
        # The task stream lost lines published after ``start`` (it does not begin at
        # ``start`` or at the task's first entry): owed from seq > after.
        after = 0 if started > start else floor
        seqs = [ln.seq for ln in page[0].chunk.lines if ln.seq] if page else []
        anchor = prev_pos(page[0].pos) if page else upto
        # Sorts after any entry at ``anchor``: its lines' ids say "all up to anchor".
        yield anchor, 2, Fill(tid, after, min(seqs) if seqs else None, anchor)
    while page:
        for entry in page:
            yield entry.pos, 1, entry
        if len(page) < _PAGE:
            return
        page = await ctx.bus.after(key, page[-1].pos, upto, _PAGE)


async def rebuild_items(
    ctx: LiveContext,
    run_id: str,
    start: EntryId,
    upto: EntryId,
    floor: tuple[str, int] | None,
) -> AsyncIterator[Fill | Entry]:
    """Everything of run ``run_id`` after ``start`` up to ``upto``, from the task streams,
    merged in entry-id order (store fills just before their task's oldest held entry)."""
    tasks = await ctx.bus.run_tasks(run_id)
    gens: list[AsyncIterator[tuple[EntryId, int, Fill | Entry]]] = []
    for tid, (first, last) in tasks.items():
        if last < start or first > upto:
            continue  # nothing of this task after the client's position, or live already
        task_floor = floor[1] if floor is not None and floor[0] == tid else None
        gens.append(
            _task_items(ctx, run_id, tid, started=first, start=start, upto=upto, floor=task_floor)
        )
    heap: list[_Item] = []
    # The first page of every task at once (a run may have thousands of tasks).
    heads = await asyncio.gather(*(anext(gen, None) for gen in gens))
    for i, head in enumerate(heads):
        if head is not None:
            heapq.heappush(heap, (head[0], head[1], i, head[2]))
    while heap:
        _, _, i, item = heapq.heappop(heap)
        yield item
        head = await anext(gens[i], None)
        if head is not None:
            heapq.heappush(heap, (head[0], head[1], i, head[2]))


async def fill_events(
    ctx: LiveContext, ident: Identity, flt: LineFilter, fill: Fill, floors: dict[str, int]
) -> AsyncIterator[list[bytes]]:
    """The store's lines of a :class:`Fill`, page by page; then a ``gap`` for what the
    store does not have (yet), or for all of it when what is owed is unknown.

    ``floors[task run id]`` ends at the highest seq delivered (or announced as a gap).
    """
    tid = fill.task_run_id
    if fill.below is not None:
        floors[tid] = max(floors.get(tid, 0), fill.below - 1)
    if fill.after is None:
        before = f" before seq {fill.below}" if fill.below is not None else ""
        yield [
            gap_event(
                f"lines of task run {tid}{before} published after this client's position",
                "trimmed from the run's and the task's live streams before this client "
                "resumed; read them with the history API",
                task_run_id=tid,
                to_seq=fill.below - 1 if fill.below is not None else None,
            )
        ]
        return
    got = fill.after
    after: Cursor | None = Cursor(fill.after, MAX_TS)
    while after is not None:
        q = store_query(ident, LineFilter(), task_run_id=tid, after=after)
        try:
            records, after = await ctx.query(q)
        except StoreError as exc:
            yield [gap_event("stored history", f"the store cannot answer: {exc}")]
            return
        out: list[bytes] = []
        for r in records:
            if fill.below is not None and r.seq >= fill.below:
                after = None
                break
            got = max(got, r.seq)
            floors[tid] = max(floors.get(tid, 0), got)
            line = LiveLine.from_stored(r)
            if flt.stored_ok(r):
                out.append(sse.log_event(line, tid, r.task_name, fill.event_id(r.seq)))
            if line.is_end:
                out.append(end_event(line, tid, fill.event_id(r.seq)))
        if out:
            yield out
    if fill.below is not None and got < fill.below - 1:
        yield [
            gap_event(
                f"lines {got + 1}..{fill.below - 1} of task run {tid}",
                "trimmed from the live streams and not in the store (yet)",
                task_run_id=tid,
                from_seq=got + 1,
                to_seq=fill.below - 1,
            )
        ]
