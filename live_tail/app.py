"""The FastAPI application: task history and health.

``GET /api/v1/tasks/{task_run_id}/logs`` returns one page of a task run's stored lines
in ``tasklogs.seq`` order with a ``next_cursor`` for the next page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import FastAPI, HTTPException, Query
from pydantic import BaseModel

from collector_service.errors import StoreError
from collector_service.store import MAX_PAGE, Cursor, HistoryQuery, LogStore, StoredLog

__all__ = ["HistoryResponse", "create_app"]


class HistoryResponse(BaseModel):
    """One page of a task run's history."""

    task_run_id: str
    records: list[StoredLog]
    #: Pass as ``cursor`` for the next page; null when there is no more (yet).
    next_cursor: str | None


class Health(BaseModel):
    status: str


def create_app(store: LogStore | None, ready: Callable[[], bool] | None = None) -> FastAPI:
    """The API over ``store`` (``None``: no history store configured; history is 503)."""
    app = FastAPI(
        title="tasklogs",
        version="0.1.0",
        summary="Collect, follow and keep the logs of workflow tasks.",
    )

    @app.get("/healthz", tags=["health"])
    async def healthz() -> Health:
        """Liveness: the process serves HTTP."""
        return Health(status="ok")

    @app.get("/readyz", tags=["health"], responses={503: {"description": "not ready"}})
    async def readyz() -> Health:
        """Readiness: the exporters are started and can write."""
        if ready is not None and not ready():
            raise HTTPException(status_code=503, detail="not ready")
        return Health(status="ready")

    @app.get(
        "/api/v1/tasks/{task_run_id}/logs",
        tags=["history"],
        responses={400: {"description": "bad cursor or limit"}, 503: {"description": "no store"}},
    )
    def task_history(
        task_run_id: str,
        cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1000,
    ) -> HistoryResponse:
        """One page of a task run's stored log lines, in ``tasklogs.seq`` order."""
        if store is None:
            raise HTTPException(status_code=503, detail="no history store is configured")
        try:
            after = Cursor.decode(cursor) if cursor else None
        except StoreError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc
        try:
            page = store.query(HistoryQuery(task_run_id=task_run_id, after=after, limit=limit))
        except StoreError as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from exc
        return HistoryResponse(
            task_run_id=task_run_id,
            records=page.records,
            next_cursor=page.next_cursor.encode() if page.next_cursor else None,
        )

    return app
