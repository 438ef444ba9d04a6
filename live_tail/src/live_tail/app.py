"""A test-friendly builder: the core API app with the live tail's routes, in one call.

``tasklogs serve`` and ``python -m live_tail`` compose the same app through the host
(:mod:`live_tail.extension`, :func:`collector_service.service.api.build_api`); this builds
it directly over a given store and bus, for tests and embedding.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from collector_service.auth import AuthConfig, Authenticator
from collector_service.component.store import LogStore
from collector_service.service.api import build_api
from collector_service.service.host import ServiceHost
from live_tail.bus import LiveBus
from live_tail.config import LiveTailConfig
from live_tail.extension import LiveTailExtension
from live_tail.memory_bus import MemoryBus

__all__ = ["create_app"]


def create_app(
    store: LogStore | None,
    ready: Callable[[], bool] | None = None,
    *,
    bus: LiveBus | None = None,
    config: LiveTailConfig | None = None,
    auth: AuthConfig | None = None,
    authenticator: Authenticator | None = None,
) -> FastAPI:
    """The API over ``store`` (``None``: no history; history is 503) and ``bus``.

    Without ``bus`` the app has an in-process bus of its own (``app.state.live.bus``).
    The app's lifespan starts the bus; whoever stops the server calls
    ``app.state.live.shutdown()`` first (open SSE streams otherwise keep uvicorn's
    shutdown waiting).
    """
    cfg = config or LiveTailConfig()
    host = ServiceHost(
        data_dir=Path("."),
        auth=auth,
        authenticator=authenticator,
        exporters=lambda: [] if store is None else [store],
    )
    if ready is not None:
        host.add_readiness_check(lambda: [] if ready() else ["not ready"])
    extension = LiveTailExtension(
        cfg, bus=bus or MemoryBus(cfg.stream_maxlen, cfg.stream_max_age_s)
    )
    extension.attach(host)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await extension.bus.start()
        yield
        extension.draining()

    app = build_api(host, lifespan=lifespan)
    app.state.live = extension.ctx
    return app
