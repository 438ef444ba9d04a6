"""The runs index routes: ``GET /api/v1/runs``, ``/api/v1/runs/{id}``, ``/api/v1/tasks/{id}``.

Shapes and status words are docs/read-api.md's. Served from the store's runs index (no
log-table scan) with the live bus's state overlaid, so a task's end moves its status at
once. Another tenant's run or task and one that does not exist get the same 404.
(No ``from __future__ import annotations``: FastAPI reads the routes' annotations.)
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel

from collector_service.component.store import RunCursor, RunsQuery
from collector_service.errors import StoreError
from live_tail.auth import Identity
from live_tail.guards import Guards
from live_tail.runs_index import IndexUnavailable, RunsIndex, RunSummary, TaskSummary
from live_tail.times import parse_time

__all__ = ["RunResponse", "RunsResponse", "add_index_routes"]

Status = Literal["running", "succeeded", "failed", "cancelled", "unknown"]

_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"description": "bad cursor, time or limit"},
    401: {"description": "missing or invalid token"},
    503: {"description": "no store with a runs index answers"},
}
_NOT_FOUND: dict[int | str, dict[str, object]] = {
    404: {"description": "no such run or task run (or another tenant's: the same answer)"},
}


class RunsResponse(BaseModel):
    """A page of pipeline runs, newest first."""

    runs: list[RunSummary]
    #: Pass as ``cursor`` for the next page; null when there is no more.
    next_cursor: str | None


class RunResponse(BaseModel):
    """A pipeline run and its task runs, by start."""

    run: RunSummary
    tasks: list[TaskSummary]


def _time(name: str, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=f"{name}: {exc}") from exc


def add_index_routes(router: APIRouter, guards: Guards) -> None:
    """Add the runs index routes to ``router`` (the live tail's)."""
    index = RunsIndex(guards.ctx)

    @router.get("/api/v1/runs", tags=["runs"], responses=_ERRORS)
    async def list_runs(
        *,
        ident: Annotated[Identity, Depends(guards.any_identity)],
        pipeline: Annotated[str | None, Query(description="pipeline name (exact)")] = None,
        status: Annotated[Status | None, Query(description="the run's status")] = None,
        since: Annotated[
            str | None, Query(description="runs started at or after (RFC 3339 or ns)")
        ] = None,
        until: Annotated[str | None, Query(description="runs started before")] = None,
        q: Annotated[
            str | None,
            Query(
                min_length=1,
                max_length=256,
                description="case-insensitive substring of the pipeline name, run id or a "
                "task name",
            ),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    ) -> RunsResponse:
        """Recent pipeline runs, newest first (by start), in cursor pages."""
        try:
            after = RunCursor.decode(cursor) if cursor else None
            query = RunsQuery(
                tenant=ident.tenant,
                pipeline=pipeline,
                since_ns=_time("since", since),
                until_ns=_time("until", until),
                text=q,
                after=after,
                limit=limit,
            )
        except StoreError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc
        try:
            runs, next_cursor = await index.runs(query, status)
        except IndexUnavailable as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from exc
        return RunsResponse(
            runs=runs, next_cursor=next_cursor.encode() if next_cursor is not None else None
        )

    @router.get("/api/v1/runs/{run_id}", tags=["runs"], responses={**_ERRORS, **_NOT_FOUND})
    async def get_run(
        run_id: str, ident: Annotated[Identity, Depends(guards.any_identity)]
    ) -> RunResponse:
        """A pipeline run and each of its task runs, with live status."""
        try:
            run, tasks = await index.run(run_id, ident.tenant)
        except IndexUnavailable as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from exc
        except LookupError:
            raise HTTPException(
                status_code=404, detail=f"pipeline run {run_id} not found"
            ) from None
        return RunResponse(run=run, tasks=tasks)

    @router.get("/api/v1/tasks/{task_run_id}", tags=["runs"], responses={**_ERRORS, **_NOT_FOUND})
    async def get_task(
        task_run_id: str, ident: Annotated[Identity, Depends(guards.any_identity)]
    ) -> TaskSummary:
        """One task run's summary, with live status."""
        try:
            found = await index.task(task_run_id, ident.tenant)
        except IndexUnavailable as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from exc
        if found is None:
            raise HTTPException(status_code=404, detail=f"task run {task_run_id} not found")
        return found
