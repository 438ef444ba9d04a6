"""The live bus interface: publish chunks, subscribe to a stream, read a range of it.

Two implementations behind it: :class:`~live_tail.memory_bus.MemoryBus` (in process, a
ring buffer per stream, seed 002) and :class:`~live_tail.redis_bus.RedisBus` (Redis
Streams). Publishing is synchronous and thread-safe (the exporter's worker thread calls
it); reading is async (the API's event loop).

A :class:`Subscription` is a bounded buffer of entries for one client. When a client
falls further behind than its buffer, the bus stops filling it and marks it
``overflowed``: the client then re-reads from the stream (or the store) at its own pace,
so a slow client costs neither the publisher nor the other clients anything.
"""

from __future__ import annotations

import abc
import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from collector_service.component.store import TaskSummaryRow
from live_tail.model import Chunk, EntryId, run_key, task_key

__all__ = ["Entry", "LiveBus", "Subscription", "TaskInfo"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One bus entry: its id (``<ms>-<n>``, as Redis assigns them) and its chunk."""

    id: str
    pos: EntryId
    chunk: Chunk


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """Where a task run's lines go: its pipeline run (hash tag) and its tenant, the one
    that first published it (it owns the task run while its live stream lives)."""

    pipeline_run_id: str
    tenant: str


class Subscription:
    """One client's bounded view of one stream, from ``position`` (exclusive) on."""

    def __init__(self, key: str, position: EntryId, limit_lines: int) -> None:
        self.key = key
        self.position = position
        self.overflowed = False
        self.closed = False
        self._limit = limit_lines
        self._lines = 0
        self._queue: deque[Entry] = deque()
        self._event = asyncio.Event()

    def offer(self, entry: Entry) -> None:
        """Called by the bus for each new entry; never blocks, never grows past the limit."""
        if self.overflowed or entry.pos <= self.position:
            return
        n = len(entry.chunk.lines)
        if self._lines + n > self._limit and self._queue:
            self.lost()
        else:
            self._queue.append(entry)
            self._lines += n
            self._event.set()

    def lost(self) -> None:
        """Entries were missed (buffer full, or trimmed before they were read): the
        client re-reads from its own position, from the stream or the store."""
        self.overflowed = True
        self._queue.clear()
        self._lines = 0
        self._event.set()

    @property
    def idle(self) -> bool:
        """Nothing buffered, not overflowed, not closed."""
        return not self._queue and not self.overflowed and not self.closed

    def wake(self) -> None:
        self._event.set()

    def close(self) -> None:
        self.closed = True
        self._event.set()

    async def get(self, timeout: float | None) -> list[Entry]:
        """Everything buffered, waiting up to ``timeout`` s (``None``: until an entry or a
        wake, with no timer per wait); empty on timeout or wake."""
        if not self._queue and not self.overflowed and not self.closed:
            self._event.clear()
            if timeout is None:
                await self._event.wait()
                return self._take()
            try:
                # asyncio.timeout, not wait_for: no task per wait (this runs per client
                # per batch, the hottest path of a fan-out).
                async with asyncio.timeout(timeout):
                    await self._event.wait()
            except TimeoutError:
                return []
        return self._take()

    def _take(self) -> list[Entry]:
        out = list(self._queue)
        self._queue.clear()
        self._lines = 0
        return out


class LiveBus(abc.ABC):
    """One interface, two implementations (memory, Redis)."""

    def __init__(self, key_prefix: str, maxlen: int, max_age_s: float) -> None:
        self.key_prefix = key_prefix
        self.maxlen = maxlen
        self.max_age_s = max_age_s

    def task_key(self, info: TaskInfo, task_run_id: str) -> str:
        return task_key(self.key_prefix, info.pipeline_run_id, task_run_id)

    def run_key(self, pipeline_run_id: str) -> str:
        return run_key(self.key_prefix, pipeline_run_id)

    @abc.abstractmethod
    async def start(self) -> None:
        """Bind to the running loop / connect; idempotent."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop readers and close every subscription (clients reconnect elsewhere)."""

    @abc.abstractmethod
    def publish(self, chunks: Sequence[Chunk]) -> None:
        """Append each chunk to its task stream and its run stream under ONE entry id,
        and record the task in its run's task index and its live state. Thread-safe.

        A task run belongs to the tenant that first published it: a chunk of another
        tenant under its id is refused, counted in
        ``tasklogs_live_tail_refused_foreign_log_records_total``."""

    @abc.abstractmethod
    async def subscribe(self, key: str, limit_lines: int) -> Subscription:
        """A subscription receiving every entry after the stream's current last entry."""

    @abc.abstractmethod
    def unsubscribe(self, sub: Subscription) -> None: ...

    @abc.abstractmethod
    async def before(self, key: str, upto: EntryId, count: int) -> list[Entry]:
        """Up to ``count`` entries with id <= ``upto``, newest first."""

    @abc.abstractmethod
    async def after(self, key: str, after: EntryId, upto: EntryId, count: int) -> list[Entry]:
        """Up to ``count`` entries with ``after`` < id <= ``upto``, oldest first."""

    @abc.abstractmethod
    async def first_id(self, key: str) -> EntryId | None:
        """The oldest entry still held (``None``: the stream is empty or expired)."""

    @abc.abstractmethod
    async def task_info(self, task_run_id: str) -> TaskInfo | None:
        """The task run's pipeline run and tenant, while its live stream exists."""

    @abc.abstractmethod
    async def task_states(self, task_run_ids: Sequence[str]) -> dict[str, TaskSummaryRow]:
        """The live state of those task runs that are on the bus (see task_state.py)."""

    @abc.abstractmethod
    async def run_tasks(self, pipeline_run_id: str) -> dict[str, tuple[EntryId, EntryId]]:
        """Every task run that published to the run: its first and last entry ids.

        With the shared ids (a chunk has the same id in its task stream and in its run
        stream), this lets a run stream be rebuilt from the task streams where the run
        stream itself was trimmed.
        """
