"""One fan-out loop per followed task stream, writing the same bytes to every follower.

Before, each follower of a task had its own bus subscription and its own wake-up per
bus entry, and pushed its events through Starlette and uvicorn (``send()``): some 40 us
of Python per line per client, so at 1,000 followers a line took ~45 ms of the loop to
fan out and p99 reached 0.5-0.8 s (bench/README.md). Here a task stream has one bus
subscription per process (a :class:`_Group`); the group's loop wakes once per batch of
entries and:

* offers the entries to its *queued* followers (:class:`~live_tail.bus.Subscription`,
  bounded as before): clients catching up, resuming, holding back behind a hole, or
  whose connection is slow, each at its own pace in its own task;
* writes them to its *direct* followers: clients that are caught up. Their events are
  formatted once per batch per distinct filter (and tenant), framed as one HTTP chunk,
  and the same ``bytes`` go to each one's transport (:mod:`live_tail.direct`), one
  write per client per batch, with no task of theirs woken.

A direct follower whose next batch it cannot take exactly as the per-client path would
(seqs that skip or repeat, out of order, an ``end`` line, another tenant's chunk) or
whose connection is write-paused (a slow reader: it must not stall the others) is handed
back to its own task with the batch queued in its subscription; it rejoins once it has
caught up again. So the events, ids, resume positions and gaps are those of
:func:`live_tail.streams.task_stream`, byte for byte.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING

from live_tail import sse
from live_tail.bus import Entry, Subscription
from live_tail.direct import DirectWriter, frame
from live_tail.filters import LineFilter
from live_tail.metrics import LIVE_SENT
from live_tail.model import EntryId
from live_tail.task_position import line_id

if TYPE_CHECKING:
    from live_tail._shared import LiveContext
    from live_tail.task_reader import TaskStream

__all__ = ["FanoutHub"]

#: The group's own bus buffer, in client buffers: it drains every loop iteration.
_GROUP_BUFFERS = 8


class _Member:
    """A direct follower: its stream state, its (idle) subscription, its transport."""

    __slots__ = ("done", "sent", "st", "sub", "writer")

    def __init__(
        self,
        st: TaskStream,
        sub: Subscription,
        writer: DirectWriter,
        done: asyncio.Future[None],
        sent: float,
    ) -> None:
        self.st = st
        self.sub = sub
        self.writer = writer
        self.done = done
        self.sent = sent


class _Group:
    """The followers of one bus stream in this process."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.bus_sub: Subscription | None = None
        self.ready: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.position: EntryId = (0, 0)
        self.feeds: set[Subscription] = set()
        self.direct: dict[Subscription, _Member] = {}
        self.task: asyncio.Task[None] | None = None


@dataclass(frozen=True, slots=True)
class _Batch:
    """What decides whether a batch can go to a direct follower as it is."""

    entries: list[Entry]
    #: Lowest and highest non-zero seq (``None``: no line has one).
    min_seq: int | None
    max_seq: int | None
    #: Non-zero seqs run on without a skip or repeat, no ``end`` line, one tenant.
    plain: bool
    tenant: str
    task_name: str


def _batch(entries: list[Entry]) -> _Batch:
    seqs = [ln.seq for e in entries for ln in e.chunk.lines if ln.seq]
    tenants = {e.chunk.tenant for e in entries}
    plain = (
        len(tenants) == 1
        and all(b == a + 1 for a, b in pairwise(seqs))
        and not any(ln.is_end for e in entries for ln in e.chunk.lines)
    )
    name = ""
    for e in entries:
        name = e.chunk.task_name or name
    return _Batch(
        entries,
        seqs[0] if seqs else None,
        seqs[-1] if seqs else None,
        plain,
        next(iter(tenants)) if tenants else "",
        name,
    )


def _filter_key(flt: LineFilter) -> tuple[object, ...]:
    return (
        flt.min_severity,
        flt.include,
        flt.exclude,
        flt.text,
        tuple(sorted(flt.attributes.items())),
        flt.task_name,
    )


class FanoutHub:
    """The per-stream groups of a :class:`~live_tail._shared.LiveContext`."""

    def __init__(self, ctx: LiveContext) -> None:
        self._ctx = ctx
        self._groups: dict[str, _Group] = {}
        #: Batches written to direct followers, and followers handed back (for tests).
        self.direct_writes = 0
        self.handbacks = 0

    async def subscribe(self, key: str) -> Subscription:
        """A subscription to ``key`` fed by its group (the same contract as the bus's:
        every entry after its ``position``, bounded by ``client_buffer_lines``)."""
        ctx = self._ctx
        while True:
            g = self._groups.get(key)
            if g is None:
                g = self._groups[key] = _Group(key)
                try:
                    bus_sub = await ctx.bus.subscribe(key, self._limit * _GROUP_BUFFERS)
                except BaseException:
                    if self._groups.get(key) is g:
                        del self._groups[key]
                    g.ready.set_result(False)
                    raise
                g.bus_sub, g.position = bus_sub, bus_sub.position
                ctx.subs.add(bus_sub)
                ctx.heartbeat.add(bus_sub)
                g.task = asyncio.create_task(self._run(g), name="live-fanout")
                g.ready.set_result(True)
            elif not g.ready.done():
                await asyncio.shield(g.ready)
            if self._groups.get(key) is g and g.ready.result():
                break
        sub = Subscription(key, g.position, self._limit)
        g.feeds.add(sub)
        ctx.subs.add(sub)
        ctx.heartbeat.add(sub)
        return sub

    @property
    def _limit(self) -> int:
        return self._ctx.config.client_buffer_lines

    def unsubscribe(self, sub: Subscription) -> None:
        ctx = self._ctx
        ctx.subs.discard(sub)
        ctx.heartbeat.discard(sub)
        g = self._groups.get(sub.key)
        if g is None:
            return
        g.feeds.discard(sub)
        m = g.direct.pop(sub, None)
        if m is not None and not m.done.done():
            m.done.set_result(None)
        if not g.feeds and not g.direct and g.ready.done():
            self._drop(g)

    async def follow(
        self, st: TaskStream, sub: Subscription, writer: DirectWriter, sent: float
    ) -> float:
        """Let the group write ``st``'s live events straight to ``writer`` until it hands
        the stream back (see the module docstring); returns when the stream last sent.

        Only for a stream that is caught up: nothing queued or held, no resume inside
        the live stream, no store cursor of lines without a seq."""
        g = self._groups.get(sub.key)
        if (
            g is None
            or sub not in g.feeds
            or not sub.idle
            or st.hold.held
            or st.after_ts is not None
            or st.last is None
            or not writer.usable()
        ):
            return sent
        m = _Member(st, sub, writer, asyncio.get_running_loop().create_future(), sent)
        g.feeds.discard(sub)
        g.direct[sub] = m
        try:
            await m.done
        finally:
            if g.direct.get(sub) is m:  # cancelled (the client went): queued again
                del g.direct[sub]
                g.feeds.add(sub)
        return m.sent

    # -- the group's loop -------------------------------------------------------------

    def _drop(self, g: _Group, *, lost: bool = False) -> None:
        """End the group: its followers re-sync (``lost``) or close (the bus closed)."""
        if self._groups.get(g.key) is g:
            del self._groups[g.key]
        for sub in list(g.feeds) + list(g.direct):
            if lost:
                sub.lost()
            elif g.bus_sub is not None and g.bus_sub.closed:
                sub.close()
        for m in list(g.direct.values()):
            self._hand_back(g, m, ())
        bus_sub = g.bus_sub
        if bus_sub is not None:
            ctx = self._ctx
            ctx.subs.discard(bus_sub)
            ctx.heartbeat.discard(bus_sub)
            ctx.bus.unsubscribe(bus_sub)
            bus_sub.close()  # its loop wakes and ends

    def _hand_back(self, g: _Group, m: _Member, entries: Sequence[Entry]) -> None:
        del g.direct[m.sub]
        g.feeds.add(m.sub)
        for entry in entries:
            m.sub.offer(entry)
        self.handbacks += 1
        if not m.done.done():
            m.done.set_result(None)

    async def _run(self, g: _Group) -> None:
        bus_sub = g.bus_sub
        assert bus_sub is not None
        ctx = self._ctx
        with contextlib.suppress(asyncio.CancelledError):
            while self._groups.get(g.key) is g:
                entries = await bus_sub.get(None)
                if self._groups.get(g.key) is not g:
                    return
                if bus_sub.closed or bus_sub.overflowed:
                    # Closed: every follower says goodbye; fell behind: every follower
                    # re-syncs from the stream (a new group is made for them).
                    self._drop(g, lost=bus_sub.overflowed and not bus_sub.closed)
                    return
                if ctx.closing.is_set():  # each says goodbye from its own task
                    for m in list(g.direct.values()):
                        self._hand_back(g, m, ())
                if entries:
                    self._deliver(g, entries)
                else:
                    self._ping(g)

    def _deliver(self, g: _Group, entries: list[Entry]) -> None:
        for sub in g.feeds:
            for entry in entries:
                sub.offer(entry)
        g.position = entries[-1].pos
        if not g.direct:
            return
        batch = _batch(entries)
        now = asyncio.get_running_loop().time()
        made: dict[tuple[object, ...], tuple[bytes, int]] = {}
        counts: dict[tuple[object, ...], int] = {}
        for m in list(g.direct.values()):
            st = m.st
            tenant = st.ident.tenant
            if (
                not batch.plain
                or (tenant is not None and batch.tenant != tenant)
                or (batch.min_seq is not None and batch.min_seq != (st.last or 0) + 1)
                or not m.writer.usable()
            ):
                self._hand_back(g, m, entries)
                continue
            name = batch.task_name or st.task_name
            key = (name, *_filter_key(st.flt))
            found = made.get(key)
            if found is None:
                found = made[key] = self._events(batch, st.tid, name, st.flt)
            data, lines = found
            if data:
                m.writer.write(data)
                m.sent = now
                counts[key] = counts.get(key, 0) + lines
            st.task_name = name
            if batch.max_seq is not None:
                st.last = batch.max_seq
        sent = sum(counts.values())
        if sent:
            LIVE_SENT.labels("task").inc(sent)
            self.direct_writes += 1

    def _events(self, batch: _Batch, tid: str, name: str, flt: LineFilter) -> tuple[bytes, int]:
        """The batch's ``log`` events for one filter, as one framed chunk, and how many."""
        parts: list[bytes] = []
        lines = 0
        for entry in batch.entries:
            chunk = entry.chunk
            if not flt.active:
                parts.append(self._ctx.shared.task_events(entry, tid, name).data)
                lines += len(chunk.lines)
                continue
            if not flt.chunk_ok(chunk.resource):
                continue
            for i, line in enumerate(chunk.lines):
                if flt.line_ok(line, chunk.resource):
                    parts.append(sse.log_event(line, tid, name, line_id(line, entry.id, i)))
                    lines += 1
        return (frame(b"".join(parts)) if parts else b""), lines

    def _ping(self, g: _Group) -> None:
        """A heartbeat comment to each direct follower idle for ``heartbeat_s / 2``."""
        now = asyncio.get_running_loop().time()
        idle = self._ctx.config.heartbeat_s / 2
        ping = frame(sse.comment("ping"))
        for m in list(g.direct.values()):
            if now - m.sent < idle:
                continue
            if m.writer.usable():
                m.writer.write(ping)
                m.sent = now
            else:
                self._hand_back(g, m, ())
