"""The in-process live bus: a ring buffer per stream and direct fan-out (seed 002).

Used when no Redis is configured; publisher and API share the one object. Nothing
survives a restart, which is what an embedded default can promise.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from collector_service.component.store import TaskSummaryRow
from live_tail.bus import Entry, LiveBus, Subscription, TaskInfo
from live_tail.metrics import LIVE_PUBLISH_FOREIGN
from live_tail.model import Chunk, EntryId
from live_tail.task_state import chunk_state, merge

__all__ = ["MemoryBus"]


@dataclass(slots=True)
class _Ring:
    entries: deque[Entry] = field(default_factory=deque)
    lines: int = 0
    touched: float = field(default_factory=time.monotonic)
    subs: set[Subscription] = field(default_factory=set)


class MemoryBus(LiveBus):
    """Ring buffers trimmed to ``maxlen`` lines and evicted ``max_age_s`` after their
    last line; all state lives on the event loop's thread."""

    def __init__(
        self, maxlen: int = 10_000, max_age_s: float = 3600, key_prefix: str = "tasklogs"
    ) -> None:
        super().__init__(key_prefix, maxlen, max_age_s)
        self._rings: dict[str, _Ring] = {}
        self._tasks: dict[str, tuple[TaskInfo, float]] = {}
        self._states: dict[str, TaskSummaryRow] = {}
        #: pipeline run -> task run -> (first entry id, last entry id)
        self._runs: dict[str, dict[str, tuple[EntryId, EntryId]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last: EntryId = (0, 0)
        self._next_sweep = 0.0

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()

    async def close(self) -> None:
        for ring in self._rings.values():
            for sub in ring.subs:
                sub.close()

    def publish(self, chunks: Sequence[Chunk]) -> None:
        loop = self._loop
        if loop is None:
            return  # no API in this process has started the bus: nobody can listen
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        # The states are computed on the caller's thread, off the event loop.
        states = [chunk_state(c) for c in chunks]
        if running is loop:
            self._apply(list(chunks), states)
        else:
            loop.call_soon_threadsafe(self._apply, list(chunks), states)

    def _next_id(self) -> EntryId:
        ms = time.time_ns() // 1_000_000
        last = self._last
        self._last = (ms, 0) if ms > last[0] else (last[0], last[1] + 1)
        return self._last

    def _apply(self, chunks: list[Chunk], states: list[TaskSummaryRow]) -> None:
        now = time.monotonic()
        for chunk, state in zip(chunks, states, strict=True):
            known = self._tasks.get(chunk.task_run_id)
            if known is not None and known[0].tenant != chunk.tenant:
                LIVE_PUBLISH_FOREIGN.inc(len(chunk.lines))
                continue  # another tenant's task run: refused, never re-owned
            info = known[0] if known else TaskInfo(chunk.pipeline_run_id, chunk.tenant)
            self._tasks[chunk.task_run_id] = (info, now)
            self._states[chunk.task_run_id] = merge(self._states.get(chunk.task_run_id), state)
            keys = [self.task_key(TaskInfo(chunk.pipeline_run_id, ""), chunk.task_run_id)]
            if chunk.pipeline_run_id:
                keys.append(self.run_key(chunk.pipeline_run_id))
            pos = self._next_id()
            entry = Entry(f"{pos[0]}-{pos[1]}", pos, chunk)
            if chunk.pipeline_run_id:
                tasks = self._runs.setdefault(chunk.pipeline_run_id, {})
                seen = tasks.get(chunk.task_run_id)
                tasks[chunk.task_run_id] = (seen[0] if seen else pos, pos)
            for key in keys:
                ring = self._rings.get(key)
                if ring is None:
                    ring = self._rings[key] = _Ring()
                ring.entries.append(entry)
                ring.lines += len(chunk.lines)
                ring.touched = now
                while ring.lines > self.maxlen and len(ring.entries) > 1:
                    ring.lines -= len(ring.entries.popleft().chunk.lines)
                for sub in ring.subs:
                    sub.offer(entry)
        if now >= self._next_sweep:
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + min(60.0, self.max_age_s / 4)
        limit = now - self.max_age_s
        for key in [k for k, r in self._rings.items() if r.touched < limit and not r.subs]:
            del self._rings[key]
        for run in [r for r in self._runs if self.run_key(r) not in self._rings]:
            del self._runs[run]
        for tid in [t for t, (_, seen) in self._tasks.items() if seen < limit]:
            del self._tasks[tid]
            self._states.pop(tid, None)

    async def subscribe(self, key: str, limit_lines: int) -> Subscription:
        ring = self._rings.get(key)
        if ring is None:
            ring = self._rings[key] = _Ring()
        pos = ring.entries[-1].pos if ring.entries else (0, 0)
        sub = Subscription(key, pos, limit_lines)
        ring.subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        ring = self._rings.get(sub.key)
        if ring is not None:
            ring.subs.discard(sub)

    async def before(self, key: str, upto: EntryId, count: int) -> list[Entry]:
        ring = self._rings.get(key)
        if ring is None:
            return []
        out: list[Entry] = []
        for entry in reversed(ring.entries):
            if entry.pos <= upto:
                out.append(entry)
                if len(out) >= count:
                    break
        return out

    async def after(self, key: str, after: EntryId, upto: EntryId, count: int) -> list[Entry]:
        ring = self._rings.get(key)
        if ring is None:
            return []
        out: list[Entry] = []
        for entry in ring.entries:
            if after < entry.pos <= upto:
                out.append(entry)
                if len(out) >= count:
                    break
        return out

    async def first_id(self, key: str) -> EntryId | None:
        ring = self._rings.get(key)
        return ring.entries[0].pos if ring is not None and ring.entries else None

    async def task_info(self, task_run_id: str) -> TaskInfo | None:
        found = self._tasks.get(task_run_id)
        return found[0] if found else None

    async def task_states(self, task_run_ids: Sequence[str]) -> dict[str, TaskSummaryRow]:
        return {t: s for t in task_run_ids if (s := self._states.get(t)) is not None}

    async def run_tasks(self, pipeline_run_id: str) -> dict[str, tuple[EntryId, EntryId]]:
        return dict(self._runs.get(pipeline_run_id, {}))
