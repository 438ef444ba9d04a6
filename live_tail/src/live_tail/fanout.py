"""What keeps the cost of one more SSE client low: shared event bytes, one heartbeat timer.

A bus entry reaches every client following its task. Without a filter, and when the
client has not seen any of its lines yet (the usual case), every such client sends the
same bytes: :class:`SharedEvents` formats them once per entry and hands the same
``bytes`` to all of them. A client that needs something else (a filter, or lines it has
had already after a resume) takes the per-line path in :mod:`live_tail.streams`.

Waiting for the next entry with a timeout of its own (for the heartbeat) costs each
client a timer per entry; :class:`Heartbeat` instead wakes every waiting client once per
period, and a client sends a heartbeat comment only when it has been idle long enough.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from itertools import pairwise

from live_tail import sse
from live_tail.bus import Entry, Subscription
from live_tail.model import LiveLine
from live_tail.task_position import line_id

__all__ = ["Formatted", "Heartbeat", "SharedEvents"]


@dataclass(frozen=True, slots=True)
class Formatted:
    """A bus entry as the ``log`` events of a task stream, and what they carry."""

    entry: Entry
    task_run_id: str
    task_name: str
    data: bytes
    #: Lowest and highest non-zero ``tasklogs.seq`` of its lines (``None``: none has one).
    min_seq: int | None
    max_seq: int | None
    #: Its last ``task.end`` line, if any.
    end: LiveLine | None
    #: Whether its non-zero seqs strictly increase (else it goes line by line, where a
    #: seq at or below one already sent is dropped, as for any client).
    ordered: bool = True


class SharedEvents:
    """Recently formatted entries, keyed by the entry (and what the bytes depend on)."""

    def __init__(self, max_entries: int = 1024, max_bytes: int = 16 << 20) -> None:
        self._cache: dict[int, Formatted] = {}
        self._bytes = 0
        self._max_entries = max_entries
        self._max_bytes = max_bytes

    def task_events(self, entry: Entry, task_run_id: str, task_name: str) -> Formatted:
        found = self._cache.get(id(entry))
        if (
            found is not None
            and found.entry is entry
            and found.task_run_id == task_run_id
            and found.task_name == task_name
        ):
            return found
        lines = entry.chunk.lines
        seqs = [ln.seq for ln in lines if ln.seq]
        end = None
        for ln in lines:
            if ln.is_end:
                end = ln
        data = b"".join(
            sse.log_event(ln, task_run_id, task_name, line_id(ln, entry.id, i))
            for i, ln in enumerate(lines)
        )
        made = Formatted(
            entry,
            task_run_id,
            task_name,
            data,
            min(seqs) if seqs else None,
            max(seqs) if seqs else None,
            end,
            all(a < b for a, b in pairwise(seqs)),
        )
        self._put(made)
        return made

    def _put(self, made: Formatted) -> None:
        # The cache holds the entry itself, so its id() is not reused while cached.
        old = self._cache.pop(id(made.entry), None)
        if old is not None:
            self._bytes -= len(old.data)
        self._cache[id(made.entry)] = made
        self._bytes += len(made.data)
        while len(self._cache) > self._max_entries or (
            self._bytes > self._max_bytes and len(self._cache) > 1
        ):
            oldest = next(iter(self._cache))
            self._bytes -= len(self._cache.pop(oldest).data)


class Heartbeat:
    """Wakes its subscriptions every ``period_s`` (they wait with no timer of their own)."""

    def __init__(self, period_s: float) -> None:
        self.period_s = period_s
        self._subs: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None

    def add(self, sub: Subscription) -> None:
        self._subs.add(sub)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="live-heartbeat")

    def discard(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            while self._subs:
                await asyncio.sleep(self.period_s)
                for sub in list(self._subs):
                    sub.wake()
