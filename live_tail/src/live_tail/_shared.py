"""What the SSE streams share: the live context (bus, store, config, shutdown, stream
budget) and the event helpers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, fields

from starlette.concurrency import run_in_threadpool

from collector_service.component.store import Cursor, HistoryPage, HistoryQuery, LogStore, StoredLog
from live_tail import sse
from live_tail.auth import Identity
from live_tail.bus import LiveBus, Subscription
from live_tail.config import LiveTailConfig
from live_tail.fanout import Heartbeat, SharedEvents
from live_tail.filters import LineFilter
from live_tail.hub import FanoutHub
from live_tail.metrics import LIVE_GAPS, LIVE_RESYNCS, LIVE_SENT, LIVE_STREAMS
from live_tail.model import Chunk, EntryId, LiveLine
from live_tail.task_watch import TaskWatch
from otel_sdk_ext.semconv import PROCESS_EXIT_CODE, TASK_RUN_RESULT

__all__ = [
    "MAX_TS",
    "PAGE",
    "STORE_PAGE",
    "LiveContext",
    "bye",
    "counted",
    "end_event",
    "gap_event",
    "prev_pos",
    "store_query",
    "tenant_ok",
]

MAX_TS = 2**63 - 1
PAGE = 64  # bus entries per range read
STORE_PAGE = 1000


@dataclass
class LiveContext:
    """What the streams share: the bus, the store, the config and the shutdown signal.

    ``history`` is the store, or a function that returns it when asked (the host's
    :meth:`~collector_service.component.extension.Host.history_store`: the live tail
    starts before the exporters do).
    """

    bus: LiveBus
    history: LogStore | Callable[[], LogStore | None] | None
    config: LiveTailConfig
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    subs: set[Subscription] = field(default_factory=set)
    streams: dict[str, int] = field(default_factory=dict)
    #: Times a client fell behind its buffer and was re-synced from the stream.
    lagged: int = 0
    #: Streams waiting for their task run to appear on the bus share one poller.
    watch: TaskWatch = field(init=False)

    _inflight: dict[tuple[object, ...], asyncio.Future[HistoryPage]] = field(
        init=False, default_factory=dict
    )

    #: Task streams' event bytes, formatted once per entry for every unfiltered client.
    shared: SharedEvents = field(init=False, default_factory=SharedEvents)
    #: Wakes streams that wait with no timer of their own (see :meth:`subscribe`).
    heartbeat: Heartbeat = field(init=False)
    #: Task streams' one fan-out loop per stream, writing to caught-up clients directly.
    hub: FanoutHub = field(init=False)

    def __post_init__(self) -> None:
        self.watch = TaskWatch(self.bus)
        self.heartbeat = Heartbeat(self.config.heartbeat_s / 2)
        self.hub = FanoutHub(self)

    @property
    def store(self) -> LogStore | None:
        """The store that answers history now (None: no history)."""
        history = self.history
        if history is None or isinstance(history, LogStore):
            return history
        return history()

    def _landed(self, key: tuple[object, ...], fut: asyncio.Future[HistoryPage]) -> None:
        if self._inflight.get(key) is fut:
            del self._inflight[key]
        if not fut.cancelled():
            fut.exception()  # retrieved: every waiter may have gone

    def lag(self) -> None:
        """A client fell behind its buffer and re-reads at its own pace."""
        self.lagged += 1
        LIVE_RESYNCS.labels("buffer").inc()

    async def subscribe(self, key: str, *, untimed: bool = False) -> Subscription:
        """``untimed``: the caller waits with ``sub.get(None)`` (no timer per wait) and is
        woken every ``heartbeat_s / 2`` instead, to send its heartbeat when idle."""
        sub = await self.bus.subscribe(key, self.config.client_buffer_lines)
        self.subs.add(sub)
        if untimed:
            self.heartbeat.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subs.discard(sub)
        self.heartbeat.discard(sub)
        self.bus.unsubscribe(sub)

    def shutdown(self) -> None:
        """Tell every open stream to send ``retry:`` and close (uvicorn then exits)."""
        self.closing.set()
        self.watch.close()
        self.heartbeat.close()
        for sub in list(self.subs):
            sub.wake()

    def acquire(self, ident: Identity, kind: str) -> bool:
        n = self.streams.get(ident.budget_key, 0)
        if n >= self.config.max_streams_per_tenant:
            return False
        self.streams[ident.budget_key] = n + 1
        LIVE_STREAMS.labels(kind).inc()
        return True

    def release(self, ident: Identity, kind: str) -> None:
        LIVE_STREAMS.labels(kind).dec()
        n = self.streams.get(ident.budget_key, 0) - 1
        if n > 0:
            self.streams[ident.budget_key] = n
        else:
            self.streams.pop(ident.budget_key, None)

    async def query(self, q: HistoryQuery) -> tuple[list[StoredLog], Cursor | None]:
        """One store page, re-filtered by tenant (stores that lack the filter stay safe).

        Identical queries in flight at the same time run once (single flight): many
        clients opening the same task at once would otherwise each run the same store
        query, and the store's work, not the fan-out, would bound how many can follow a
        task. A joiner's answer is at most one query's duration old, like a query that
        started a little earlier; whatever came after is picked up by seq as usual.
        """
        store = self.store
        if store is None:
            return [], None
        key = _query_key(q)
        fut = self._inflight.get(key)
        if fut is None:
            fut = asyncio.ensure_future(run_in_threadpool(store.query, q))
            self._inflight[key] = fut
            fut.add_done_callback(lambda f: self._landed(key, f))
        # Shielded: a client that disconnects must not cancel the others' query.
        page = await asyncio.shield(fut)
        records = page.records
        if q.tenant is not None:
            records = [r for r in records if r.tenant == q.tenant]
        return records, page.next_cursor


def _query_key(q: HistoryQuery) -> tuple[object, ...]:
    return tuple(
        tuple(sorted(q.attributes.items())) if f.name == "attributes" else getattr(q, f.name)
        for f in fields(q)
    )


def prev_pos(pos: EntryId) -> EntryId:
    return (pos[0], pos[1] - 1) if pos[1] > 0 else (pos[0] - 1, 2**63 - 1)


def end_event(line: LiveLine, task_run_id: str, event_id: str) -> bytes:
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


def gap_event(what: str, why: str, **extra: object) -> bytes:
    return sse.event("gap", {"what": what, "reason": why, **extra})


def tenant_ok(chunk: Chunk, ident: Identity) -> bool:
    return ident.tenant is None or chunk.tenant == ident.tenant


def store_query(
    ident: Identity,
    flt: LineFilter,
    *,
    task_run_id: str | None = None,
    pipeline_run_id: str | None = None,
    after: Cursor | None = None,
    limit: int = STORE_PAGE,
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


async def counted(body: AsyncIterator[bytes], kind: str) -> AsyncIterator[bytes]:
    """``body`` as it is, counting the ``log`` and ``gap`` events that go out."""
    sent, gaps = LIVE_SENT.labels(kind), LIVE_GAPS.labels(kind)
    async for chunk in body:
        # JSON data escapes newlines: "event: x\n" occurs only as an event's own field.
        sent.inc(chunk.count(b"event: log\n"))
        if b"event: gap\n" in chunk:
            gaps.inc(chunk.count(b"event: gap\n"))
        yield chunk


def bye(ctx: LiveContext) -> bytes:
    return sse.retry(ctx.config.reconnect_ms) + sse.comment("server shutting down; reconnect")
