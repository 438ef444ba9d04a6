"""The live tail's HTTP routes: history (:mod:`live_tail.history`), live SSE streams,
stream tokens.

:func:`build_router` returns them as one :class:`~fastapi.APIRouter`, which the
extension (:mod:`live_tail.extension`) adds to the host, so ``tasklogs serve`` and
``python -m live_tail`` serve them beside the core's ``/healthz``, ``/readyz`` and
``/metrics``. See :mod:`live_tail.streams` for the SSE contract. (No ``from __future__
import annotations``: FastAPI reads the routes' annotations, which name local guards.)
"""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query
from pydantic import BaseModel

from collector_service.auth import AuthConfig, Authenticator
from live_tail._shared import counted
from live_tail.auth import Identity, TokenSigner
from live_tail.direct import DirectSlot
from live_tail.filters import LineFilter, filter_params
from live_tail.guards import Guards
from live_tail.history import history_routes
from live_tail.index_routes import add_index_routes
from live_tail.records import HistoryResponse
from live_tail.sse import SSEResponse
from live_tail.streams import (
    LiveContext,
    TaskPosition,
    parse_run_id,
    parse_task_id,
    run_stream,
    task_stream,
)

__all__ = ["HistoryResponse", "StreamToken", "build_router", "make_guards"]


class StreamToken(BaseModel):
    """A short-lived query token for ``EventSource`` (``?access_token=``)."""

    access_token: str
    tenant: str
    #: Unix seconds after which the token is refused (open streams stay open).
    expires_at: int


_SSE_DOC = {
    200: {
        "description": (
            "Server-sent events: `log` (one line, id = resume position), `end` (task result "
            "and exit code), `gap` (what could not be delivered and why), heartbeat comments."
        ),
        "content": {
            "text/event-stream": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "event": {"type": "string", "enum": ["log", "end", "gap"]},
                        "id": {"type": "string"},
                        "data": {"type": "string", "contentMediaType": "application/json"},
                        "retry": {"type": "integer"},
                    },
                }
            }
        },
    },
    401: {"description": "missing or invalid token"},
    429: {"description": "too many concurrent streams for this tenant"},
}


def make_guards(ctx: LiveContext, auth: AuthConfig, authenticator: Authenticator) -> Guards:
    """The checks of one app's routes; ``auth.signing_key`` signs query tokens."""
    key = auth.signing_key.get_secret_value().encode() if auth.signing_key else None
    return Guards(authenticator, TokenSigner(key, ctx.config.query_token_ttl_s), ctx)


def build_router(
    ctx: LiveContext,
    auth: AuthConfig,
    authenticator: Authenticator,
    guards: Guards | None = None,
) -> APIRouter:
    """The live tail's routes over ``ctx`` (bus, store, config); ``authenticator`` is the
    receivers' one, ``auth.signing_key`` signs query tokens (``guards``: shared with the
    web viewer's pages, :func:`make_guards`)."""
    guards = guards or make_guards(ctx, auth, authenticator)
    signer = guards.signer
    router = APIRouter()

    @router.post(
        "/api/v1/auth/stream-token",
        tags=["auth"],
        responses={401: {"description": "missing or unknown bearer token"}},
    )
    async def stream_token(
        ident: Annotated[Identity, Depends(guards.header_identity)],
    ) -> StreamToken:
        """Mint a short-lived query token for EventSource, which cannot send headers."""
        tenant = ident.tenant or ""
        token, expires = signer.mint(tenant)
        return StreamToken(access_token=token, tenant=tenant, expires_at=expires)

    history_routes(router, guards, ctx)
    _live_routes(router, guards, ctx)
    add_index_routes(router, guards)
    return router


def _live_routes(app: APIRouter, guards: Guards, ctx: LiveContext) -> None:
    def sse(
        ident: Identity, kind: str, body: AsyncIterator[bytes], slot: DirectSlot | None = None
    ) -> SSEResponse:
        """``body`` as a counted SSE response holding one of the tenant's stream slots
        until it closes (429 when none is free)."""
        guards.open_stream(ident, kind)
        return SSEResponse(
            counted(body, kind), on_close=lambda: ctx.release(ident, kind), slot=slot
        )

    @app.get(
        "/api/v1/tasks/{task_run_id}/logs/stream",
        tags=["live"],
        response_class=SSEResponse,
        responses=_SSE_DOC,  # type: ignore[arg-type]
    )
    async def task_live(
        task_run_id: str,
        ident: Annotated[Identity, Depends(guards.any_identity)],
        flt: Annotated[LineFilter, Depends(filter_params)],
        last_event_id: Annotated[
            str | None, Header(description="id of the last event received (seq, or its place)")
        ] = None,
        after_seq: Annotated[
            int | None,
            Query(ge=0, le=2**63 - 1, description="resume after this seq (like Last-Event-ID)"),
        ] = None,
    ) -> SSEResponse:
        """Recent lines of a task run, then live lines until its ``end``."""
        start = TaskPosition(seq=after_seq) if after_seq is not None else None
        if last_event_id:
            start = parse_task_id(last_event_id)
            if start is None:
                raise HTTPException(
                    status_code=400,
                    detail="Last-Event-ID of a task stream is a seq number, "
                    "'<entry id>/<index>' or 's/<cursor>'",
                )
        await ctx.bus.start()  # unknown and foreign task runs alike: it waits (guards.py)
        slot = DirectSlot()
        return sse(ident, "task", task_stream(ctx, task_run_id, ident, flt, start, slot=slot), slot)

    @app.get(
        "/api/v1/runs/{run_id}/logs/stream",
        tags=["live"],
        response_class=SSEResponse,
        responses=_SSE_DOC,  # type: ignore[arg-type]
    )
    async def run_live(
        run_id: str,
        ident: Annotated[Identity, Depends(guards.any_identity)],
        flt: Annotated[LineFilter, Depends(filter_params)],
        last_event_id: Annotated[
            str | None, Header(description="id of the last event received")
        ] = None,
    ) -> SSEResponse:
        """Every task of a pipeline run, tasks that start later included."""
        start = None
        if last_event_id:
            start = parse_run_id(last_event_id)
            if start is None:
                raise HTTPException(
                    status_code=400,
                    detail="Last-Event-ID of a run stream is '<entry id>/<index>' or 's/<cursor>'",
                )
        await ctx.bus.start()  # unknown and foreign runs alike: it waits (guards.py)
        return sse(ident, "run", run_stream(ctx, run_id, ident, flt, start))
