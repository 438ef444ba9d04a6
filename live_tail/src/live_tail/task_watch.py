"""Waiting for a task run to appear on the live bus, for every waiting stream at once.

A client may open a task's stream before the task has logged anything. Its lines must
then reach it within milliseconds of the first publish, yet a poll per client (every
250 ms, as before) both delays those first lines by up to the poll interval and costs a
lookup per client. :class:`TaskWatch` polls once for all the streams of this process,
one :meth:`~live_tail.bus.LiveBus.task_info` per distinct task run waited for, every
``interval_s`` while few are waited for and no more than ``lookups_per_s`` lookups per
second when many are (a Redis round trip each; a dict lookup on the in-process bus).
"""

from __future__ import annotations

import asyncio
import logging

from live_tail.bus import LiveBus, TaskInfo

__all__ = ["TaskWatch"]

_log = logging.getLogger(__name__)


class TaskWatch:
    """One poller for every stream of this process waiting for its task run."""

    def __init__(
        self, bus: LiveBus, *, interval_s: float = 0.01, lookups_per_s: float = 2000
    ) -> None:
        self._bus = bus
        self._interval = interval_s
        self._rate = lookups_per_s
        self._waiting: dict[str, set[asyncio.Future[TaskInfo | None]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def waiting(self) -> int:
        """Distinct task runs waited for."""
        return len(self._waiting)

    async def wait(self, task_run_id: str, timeout: float) -> TaskInfo | None:
        """The task's info once it is on the bus; ``None`` after ``timeout`` s or close."""
        if self._closed:
            return None
        fut: asyncio.Future[TaskInfo | None] = asyncio.get_running_loop().create_future()
        futs = self._waiting.setdefault(task_run_id, set())
        futs.add(fut)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._poll(), name="live-task-watch")
        try:
            async with asyncio.timeout(timeout):
                return await fut
        except TimeoutError:
            return None
        finally:
            futs.discard(fut)
            if not futs and self._waiting.get(task_run_id) is futs:
                del self._waiting[task_run_id]

    def close(self) -> None:
        """Release every waiter (with ``None``): the process is shutting down."""
        self._closed = True
        for futs in self._waiting.values():
            for fut in futs:
                if not fut.done():
                    fut.set_result(None)
        if self._task is not None:
            self._task.cancel()

    async def _poll(self) -> None:
        while self._waiting and not self._closed:
            ids = list(self._waiting)
            found = await asyncio.gather(
                *(self._bus.task_info(tid) for tid in ids), return_exceptions=True
            )
            for tid, info in zip(ids, found, strict=True):
                if isinstance(info, BaseException):
                    if not isinstance(info, asyncio.CancelledError):
                        _log.debug("task lookup for %s failed: %r", tid, info)
                    continue
                if info is not None:
                    for fut in self._waiting.get(tid, ()):
                        if not fut.done():
                            fut.set_result(info)
            await asyncio.sleep(max(self._interval, len(ids) / self._rate))
