"""The core's HTTP API: health, readiness, metrics, docs, and the routes extensions add.

``/healthz`` (the process serves), ``/readyz`` (503 with the reasons while the host is not
ready), ``/metrics`` (the core's registry plus every registry added to the host, in the
format the scraper asks for), ``/docs`` and ``/openapi.json`` (:mod:`.docs`, assets served
locally), then every :class:`~fastapi.APIRouter` the extensions added through
:meth:`~collector_service.service.host.ServiceHost.add_router`.

Auth: ``/healthz`` and ``/readyz`` are always open (probes carry no token);
``/metrics`` needs a tenant's bearer token with ``auth.protect_metrics``, ``/docs`` and
``/openapi.json`` with ``auth.protect_docs``; the extensions' routes check their own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse
from prometheus_client.exposition import choose_encoder
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from collector_service.auth import Authenticator, bearer_token
from collector_service.service.docs import add_docs
from collector_service.service.host import ServiceHost

__all__ = ["Health", "NotReady", "build_api", "token_guard"]


class Health(BaseModel):
    status: str


class NotReady(BaseModel):
    status: str
    #: Why the service cannot take logs now.
    reasons: list[str]


def token_guard(authn: Authenticator, *, enabled: bool) -> Callable[[Request], Awaitable[None]]:
    """A check that answers 401 unless the request has a tenant's bearer token (a no-op
    when not ``enabled`` or when auth is off)."""

    async def guard(request: Request) -> None:
        if not enabled or not authn.enabled:
            return
        if authn.tenant_for(bearer_token(request.headers.get("authorization"))) is None:
            raise HTTPException(
                status_code=401,
                detail="missing or unknown bearer token",
                headers={"WWW-Authenticate": 'Bearer realm="tasklogs"'},
            )

    return guard


def build_api(
    host: ServiceHost,
    *,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
) -> FastAPI:
    """The API app over ``host``: health, readiness, metrics and the extensions' routers
    (those added so far: build it after the extensions started)."""
    app = FastAPI(
        title="tasklogs",
        version="0.1.0",
        summary="Collect, follow and keep the logs of workflow tasks.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    protect_metrics = token_guard(host.authenticator, enabled=host.auth.protect_metrics)
    add_docs(app, token_guard(host.authenticator, enabled=host.auth.protect_docs))

    @app.get("/healthz", tags=["health"])
    async def healthz() -> Health:
        """Liveness: the process serves HTTP."""
        return Health(status="ok")

    @app.get(
        "/readyz",
        tags=["health"],
        response_model=Health,
        responses={503: {"description": "not ready, and why", "model": NotReady}},
    )
    async def readyz() -> JSONResponse:
        """Readiness: started, the durable queue answers and every exporter can write."""
        if reasons := host.not_ready():
            body = NotReady(status="not ready", reasons=reasons)
            return JSONResponse(body.model_dump(), status_code=503)
        return JSONResponse(Health(status="ready").model_dump())

    async def metrics(request: Request) -> Response:
        await protect_metrics(request)
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(host.metrics), headers={"Content-Type": content_type})

    app.add_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
    for router in host.routers:
        app.include_router(router)
    return app
