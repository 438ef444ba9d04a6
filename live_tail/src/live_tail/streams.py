"""The SSE streams: recent history first, then live, resumable without gap or duplicate.

Task stream ids are the line's ``tasklogs.seq``: ``Last-Event-ID: N`` continues with
seq > N, from the live stream when it still holds N+1, else from the store first (lines
without a seq: see :mod:`live_tail.task_position`). Run
stream ids address a line inside a bus entry: ``<entry id>/<index>``; lines served from
the store (the run's live stream had expired) carry ``s/<store cursor>``.

A client that falls behind its buffer is re-synced from the stream (or the store) at
its own pace; whatever can be found in neither is announced with a ``gap`` event.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from collector_service.errors import StoreError
from live_tail import sse
from live_tail._shared import (
    LiveContext,
    bye,
    end_event,
    gap_event,
)
from live_tail.auth import Identity
from live_tail.bus import Subscription
from live_tail.direct import DirectSlot
from live_tail.filters import LineFilter
from live_tail.holes import live_lines
from live_tail.run_streams import RunPosition, parse_run_id, run_stream
from live_tail.task_position import TaskPosition, parse_task_id
from live_tail.task_reader import TaskStream, position_gap

__all__ = [
    "LiveContext",
    "RunPosition",
    "TaskPosition",
    "parse_run_id",
    "parse_task_id",
    "run_stream",
    "task_stream",
]


async def _until_on_bus(ctx: LiveContext, st: TaskStream) -> AsyncIterator[bytes]:
    """A task not (or no longer) on the bus: what the store has, then wait for it.

    Ends after an ``end`` event or the shutdown notice; otherwise once the task is live,
    with ``st.info`` set (at once when it is live already).
    """
    st.info = await ctx.bus.task_info(st.tid)
    if st.info is not None:
        return
    try:
        if st.resume_at is not None:
            # A place in a live stream that is gone: what followed it cannot be placed.
            yield position_gap(st.tid, *st.resume_at)
            st.resume_at = None
            st.last = st.last or 0
        else:
            if st.last is None:
                tail = await st.store_newest(None, ctx.config.history_lines)
                if tail:
                    yield b"".join(tail)
                # The tail went out; anything earlier is history, not owed.
                st.last = st.last or 0
            async for out in st.store_after(None):
                yield b"".join(out)
    except StoreError as exc:
        yield gap_event("stored history", f"the store cannot answer: {exc}")
    if st.end is not None:
        yield end_event(st.end, st.tid, str(st.end.seq))
        return
    # One poller for every waiting stream (TaskWatch): the first lines arrive within
    # milliseconds of their publish, not up to a per-client poll interval later.
    while (info := await ctx.watch.wait(st.tid, ctx.config.heartbeat_s)) is None:
        if ctx.closing.is_set():
            yield bye(ctx)
            return
        yield sse.comment("ping")
    st.info = info


async def _until_visible(ctx: LiveContext, st: TaskStream) -> AsyncIterator[bytes]:
    """:func:`_until_on_bus`; another tenant's task run is then answered as one that never
    appears (pings until shutdown): its lines are never shown, its existence never told."""
    async for out in _until_on_bus(ctx, st):
        yield out
    tenant = st.ident.tenant
    if st.info is not None and tenant is not None and st.info.tenant != tenant:
        st.info = None
        async for out in _as_unknown(ctx):
            yield out


async def _as_unknown(ctx: LiveContext) -> AsyncIterator[bytes]:
    """What a stream of a task run that never appears sends: pings until shutdown."""
    while not ctx.closing.is_set():
        try:
            async with asyncio.timeout(ctx.config.heartbeat_s):
                await ctx.closing.wait()
        except TimeoutError:
            yield sse.comment("ping")
    yield bye(ctx)


async def _catch_up(st: TaskStream, key: str, sub: Subscription) -> AsyncIterator[bytes]:
    try:
        async for out in st.catch_up(key, sub.position):
            yield b"".join(out)
    except StoreError as exc:
        yield gap_event("stored history", f"the store cannot answer: {exc}")
    if st.last is None:
        st.last = 0


async def task_stream(
    ctx: LiveContext,
    task_run_id: str,
    ident: Identity,
    flt: LineFilter,
    start: TaskPosition | None,
    *,
    slot: DirectSlot | None = None,
) -> AsyncIterator[bytes]:
    """The SSE body of ``GET /api/v1/tasks/{id}/logs/stream``.

    Once caught up, and while it keeps up, the stream's live events are written by its
    task's fan-out loop straight to the connection (``slot``; :mod:`live_tail.hub`)."""
    st = TaskStream(ctx, task_run_id, ident, flt, start)
    async for out in _until_visible(ctx, st):
        yield out
    info = st.info
    if info is None:
        return  # ended, closing, or another tenant's task run
    async for out in _live(ctx, st, ctx.bus.task_key(info, task_run_id), slot):
        yield out


async def _live(
    ctx: LiveContext, st: TaskStream, key: str, slot: DirectSlot | None
) -> AsyncIterator[bytes]:
    """Catch up, then live lines until the task's ``end`` (or the shutdown notice)."""
    # Untimed: no timer per wait (the hottest path of a fan-out); the context's heartbeat
    # wakes the stream every heartbeat_s / 2 and it pings when idle that long.
    sub = await ctx.hub.subscribe(key)
    loop = asyncio.get_running_loop()
    idle_ping = ctx.config.heartbeat_s / 2
    try:
        async for out in _catch_up(st, key, sub):
            yield out
        sent = loop.time()
        writer = slot.writer() if slot is not None else None
        while st.end is None:
            if writer is not None and sub.idle and not ctx.closing.is_set():
                sent = await ctx.hub.follow(st, sub, writer, sent)
                if ctx.closing.is_set() or sub.closed:
                    yield bye(ctx)
                    return
            entries = await sub.get(st.hold.timeout())
            if ctx.closing.is_set() or sub.closed:
                yield bye(ctx)
                return
            if sub.overflowed:
                # Too slow for the buffer: re-read from the stream at our own pace.
                ctx.lag()
                ctx.hub.unsubscribe(sub)
                st.hold.clear()  # re-read as well
                sub = await ctx.hub.subscribe(key)
                async for out in _catch_up(st, key, sub):
                    yield out
                sent = loop.time()
                continue
            lines = await live_lines(st, entries)
            if lines:
                sent = loop.time()
                yield b"".join(lines)
            elif not entries:
                now = loop.time()
                if now - sent >= idle_ping:
                    sent = now
                    yield sse.comment("ping")
        yield end_event(st.end, st.tid, str(st.end.seq))
    finally:
        ctx.hub.unsubscribe(sub)
