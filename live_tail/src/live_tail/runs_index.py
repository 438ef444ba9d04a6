"""The runs index behind the read API: the store's summaries, the bus's live state, tenancy.

Answers ``GET /api/v1/runs``, ``/runs/{id}`` and ``/tasks/{id}`` (docs/read-api.md) from
a store's :class:`~collector_service.component.store.RunIndex` (no log-table scan), with
each task's live state overlaid (:mod:`live_tail.status`), and decides who may see a
task run: its owner, the tenant that first wrote it (the store's record is final; the
bus's answers for a task run the store does not know yet).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from collector_service.component.store import (
    RunCursor,
    RunIndex,
    RunsQuery,
    RunSummaryRow,
    TaskSummaryRow,
)
from collector_service.errors import StoreError
from live_tail._shared import LiveContext
from live_tail.status import STATUSES, overlay, run_status, task_status
from live_tail.times import rfc3339

__all__ = [
    "IndexUnavailable",
    "RunSummary",
    "RunsIndex",
    "TaskSummary",
]

_P = ParamSpec("_P")
_T = TypeVar("_T")

#: Runs read from the store per request while a status filter skips runs.
_SCAN_BUDGET = 2000


class IndexUnavailable(Exception):
    """No store with a runs index answers (503)."""


class TaskSummary(BaseModel):
    """One task run (docs/read-api.md, ``TaskSummary``)."""

    task_run_id: str
    run_id: str
    pipeline_name: str
    task_name: str
    service_name: str
    attempt: int
    status: str
    exit_code: int | None
    start: str
    end: str | None
    start_ns: int
    end_ns: int | None
    duration_ms: float | None
    line_count: int
    error_count: int
    first_error_seq: int | None
    max_seq: int


class RunSummary(BaseModel):
    """One pipeline run (docs/read-api.md, ``RunSummary``)."""

    run_id: str
    pipeline_name: str
    status: str
    start: str
    end: str | None
    start_ns: int
    end_ns: int | None
    duration_ms: float | None
    task_count: int
    tasks_by_status: dict[str, int]
    line_count: int
    error_count: int


def _duration(start: int, end: int | None) -> float | None:
    return None if end is None else (end - start) / 1e6


def task_summary(t: TaskSummaryRow, status: str) -> TaskSummary:
    end = t.end_ns if status not in ("running", "unknown") else None
    return TaskSummary(
        task_run_id=t.task_run_id,
        run_id=t.pipeline_run_id,
        pipeline_name=t.pipeline_name,
        task_name=t.task_name,
        service_name=t.service_name,
        attempt=t.attempt,
        status=status,
        exit_code=t.exit_code,
        start=rfc3339(t.first_ns),
        end=rfc3339(end) if end is not None else None,
        start_ns=t.first_ns,
        end_ns=end,
        duration_ms=_duration(t.first_ns, end),
        line_count=t.line_count,
        error_count=t.error_count,
        first_error_seq=t.first_error_seq,
        max_seq=t.max_seq,
    )


def run_summary(run: RunSummaryRow, statuses: list[str]) -> RunSummary:
    status = run_status(statuses)
    start = run.start_ns
    end = None
    if status not in ("running", "unknown"):
        end = max(t.end_ns if t.end_ns is not None else t.last_ns for t in run.tasks)
    counts = Counter(statuses)
    return RunSummary(
        run_id=run.run_id,
        pipeline_name=run.pipeline_name,
        status=status,
        start=rfc3339(start),
        end=rfc3339(end) if end is not None else None,
        start_ns=start,
        end_ns=end,
        duration_ms=_duration(start, end),
        task_count=len(run.tasks),
        tasks_by_status={s: counts[s] for s in STATUSES if counts[s]},
        line_count=sum(t.line_count for t in run.tasks),
        error_count=sum(t.error_count for t in run.tasks),
    )


@dataclass(frozen=True, slots=True)
class RunsIndex:
    """The index over one live context (its store and bus)."""

    ctx: LiveContext

    def _index(self) -> RunIndex:
        # object: mypy deems LogStore and RunIndex disjoint protocols; stores are both.
        store: object = self.ctx.store
        if not isinstance(store, RunIndex):
            raise IndexUnavailable("no store with a runs index is configured")
        return store

    async def _call(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return await run_in_threadpool(fn, *args, **kwargs)
        except StoreError as exc:
            raise IndexUnavailable(str(exc)) from exc

    def _status(self, t: TaskSummaryRow, now: int) -> str:
        return task_status(t, now, self.ctx.config.stale_after_s)

    async def _live(self, tasks: list[TaskSummaryRow]) -> list[TaskSummaryRow]:
        states = await self.ctx.bus.task_states([t.task_run_id for t in tasks])
        return [overlay(t, states.get(t.task_run_id)) for t in tasks]

    async def owner(self, task_run_id: str) -> str | None:
        """The task run's owner, ``None`` when neither store nor bus knows it; raises
        :class:`IndexUnavailable` when the store keeps no runs index."""
        found = await self.stored_owner(task_run_id)
        if found is not None:
            return found
        info = await self.ctx.bus.task_info(task_run_id)
        return info.tenant if info is not None else None

    async def stored_owner(self, task_run_id: str) -> str | None:
        """The owner the store's runs index records (final once there), ``None`` when
        the index has no such task run yet."""
        found = await self._call(self._index().task, task_run_id, None)
        return found.tenant if found is not None else None

    async def task(self, task_run_id: str, tenant: str | None) -> TaskSummary | None:
        index = self._index()
        row = await self._call(index.task, task_run_id, None)
        states = await self.ctx.bus.task_states([task_run_id])
        live = states.get(task_run_id)
        # A task run only the bus knows yet: its live state is a summary row already.
        row = overlay(row, live) if row is not None else live
        if row is None or (tenant is not None and row.tenant != tenant):
            return None
        return task_summary(row, self._status(row, time.time_ns()))

    async def run(self, run_id: str, tenant: str | None) -> tuple[RunSummary, list[TaskSummary]]:
        """The run and its tasks that ``tenant`` owns; :class:`LookupError` when none."""
        index = self._index()
        found = await self._call(index.run, run_id, tenant)
        stored = found.tasks if found is not None else []
        known = {t.task_run_id for t in stored}
        tasks = await self._live(stored)
        # Tasks on the bus whose first lines are not stored yet.
        fresh = [tid for tid in await self.ctx.bus.run_tasks(run_id) if tid not in known]
        for tid, live in (await self.ctx.bus.task_states(fresh)).items():
            if tenant is not None and live.tenant != tenant:
                continue
            if await self.owner(tid) not in (None, live.tenant):
                continue
            tasks.append(live)
        if not tasks:
            raise LookupError(run_id)
        tasks.sort(key=lambda t: (t.first_ns, t.task_run_id))
        name = max(t.pipeline_name for t in tasks)
        now = time.time_ns()
        statuses = [self._status(t, now) for t in tasks]
        run = RunSummaryRow(run_id, name, tasks)
        return run_summary(run, statuses), [
            task_summary(t, s) for t, s in zip(tasks, statuses, strict=True)
        ]

    async def runs(
        self, query: RunsQuery, status: str | None
    ) -> tuple[list[RunSummary], RunCursor | None]:
        """A page of runs, newest first; with ``status``, runs of that status only (the
        store is read page by page until the page is full or the scan budget is spent:
        ``next_cursor`` then continues where the scan stopped)."""
        index = self._index()
        out: list[RunSummary] = []
        q, scanned = query, 0
        while True:
            page = await self._call(index.runs, q)
            cursor = page.next_cursor
            now = time.time_ns()
            # One bus lookup for every task of the page.
            states = await self.ctx.bus.task_states(
                [t.task_run_id for run in page.runs for t in run.tasks]
            )
            for run in page.runs:
                scanned += 1
                tasks = [overlay(t, states.get(t.task_run_id)) for t in run.tasks]
                statuses = [self._status(t, now) for t in tasks]
                summary = run_summary(RunSummaryRow(run.run_id, run.pipeline_name, tasks), statuses)
                if status is None or summary.status == status:
                    out.append(summary)
                if len(out) == query.limit:
                    return out, run.cursor
            if cursor is None:
                return out, None
            if scanned >= _SCAN_BUDGET:
                return out, cursor
            q = RunsQuery(
                tenant=query.tenant,
                pipeline=query.pipeline,
                since_ns=query.since_ns,
                until_ns=query.until_ns,
                text=query.text,
                after=cursor,
                limit=query.limit,
            )
