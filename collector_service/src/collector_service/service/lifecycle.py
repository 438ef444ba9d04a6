"""The service: exporters, pipeline, receivers and the HTTP API, started and stopped in order.

As in the OpenTelemetry Collector: every config is validated before any I/O; exporters
start before receivers, receivers stop first, queues drain on shutdown, and nothing
raised by an exporter after start-up stops the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

import uvicorn
from prometheus_client.exposition import choose_encoder
from starlette.requests import Request
from starlette.responses import Response

from collector_service.auth import Authenticator
from collector_service.component.exporter import ExporterFactory, resolve_exporters
from collector_service.component.store import LogStore
from collector_service.metrics import REGISTRY
from collector_service.pipeline.deadletter import FileDeadLetter
from collector_service.pipeline.memory import ExporterRunner
from collector_service.pipeline.router import Pipeline
from collector_service.receivers import (
    Ingestor,
    OtlpGrpcReceiver,
    OtlpHttpReceiver,
    ReceiverSettings,
)
from collector_service.service.config import Config
from collector_service.service.http import QuietServer, bind
from collector_service.stream.consumer import RedisWriters
from collector_service.stream.queue import RedisIngest

__all__ = ["Service"]

_log = logging.getLogger(__name__)


async def _metrics(request: Request) -> Response:
    """:data:`collector_service.metrics.REGISTRY` in the format the scraper asks for
    (Prometheus text 0.0.4 by default, OpenMetrics on request)."""
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(REGISTRY), headers={"Content-Type": content_type})


class Service:
    """One tasklogs process. Build it from a :class:`Config`; ``run()`` until a signal."""

    def __init__(
        self,
        config: Config,
        factories: dict[str, ExporterFactory] | None = None,
        *,
        writers: bool | None = None,
    ) -> None:
        self.config = config
        self._specs = resolve_exporters(config, factories)  # validated before any I/O
        self.authenticator = Authenticator(config.auth)  # secrets read before any I/O
        from live_tail.wiring import bind_publishers, make_bus, publisher_spec

        if (live := publisher_spec(config, self._specs)) is not None:
            self._specs.append(live)
        self.live_bus = make_bus(config)  # shared by the live_tail publisher and the API
        bind_publishers(self._specs, self.live_bus)
        self.runners: list[ExporterRunner] = []
        # With Redis: the durable ingest stream, and (unless receiver-only) the writers.
        self.ingest: RedisIngest | None = None
        self.writers: RedisWriters | None = None
        if config.redis is not None:
            self.ingest = RedisIngest(config.redis, [s.component_id for s in self._specs])
            if config.redis.ingest.writers if writers is None else writers:
                self.writers = RedisWriters(config, self._specs)
        self.pipeline = Pipeline(self.runners, self.ingest)
        self.receivers: list[OtlpGrpcReceiver | OtlpHttpReceiver] = []
        self._api: QuietServer | None = None
        self._api_task: asyncio.Task[None] | None = None
        self._api_live: Any = None
        self._started = False

    @property
    def history_store(self) -> LogStore | None:
        """The first exporter that can answer history queries."""
        for runner in self.runners:
            if isinstance(runner.exporter, LogStore):
                return runner.exporter
        for handle in self.writers.handles if self.writers is not None else []:
            if isinstance(handle.exporter, LogStore):
                return handle.exporter
        return None

    def not_ready(self) -> list[str]:
        """Why the service cannot take logs now: empty when it is ready."""
        if not self._started:
            return ["not started, or stopping"]
        reasons = (
            []
            if self.ingest is None or self.ingest.unavailable is None
            else [self.ingest.unavailable]
        )
        handles = [r.handle for r in self.runners]
        handles += self.writers.handles if self.writers is not None else []
        reasons += [h.failing for h in handles if h.failing is not None]
        return reasons

    def ready(self) -> bool:
        """Ready only when started, the durable queue answers and every exporter can write."""
        return not self.not_ready()

    async def start(self) -> None:
        """Exporters first, then the API, then receivers. Undo everything on failure."""
        try:
            await self._start()
        except BaseException:
            await self.stop(timeout=5.0)
            raise

    async def _start(self) -> None:
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        await self.live_bus.start()
        if self.ingest is not None:
            if self.writers is not None:
                await self.writers.start()
            else:
                _log.info("receiver-only: writers run as `tasklogs worker` processes")
            await self.ingest.start()
        else:
            dead_letter = FileDeadLetter(self.config.data_dir)
            for spec in self._specs:
                exporter = spec.create(self.config.data_dir)
                runner = ExporterRunner(spec.component_id, exporter, spec.helper, dead_letter)
                await runner.start()
                self.runners.append(runner)
            _log.warning(
                "ingest queue is in-process (no Redis configured): acknowledged records not "
                "yet written are lost if this process dies"
            )
        if self.config.api.enabled:
            await self._start_api()
        if not self.authenticator.enabled:
            _log.warning("no auth.tenants configured: receivers accept anonymous requests")
        for rid, rcfg in self.config.receivers.items():
            settings = ReceiverSettings(rid, rcfg.require_task_identity)
            ingestor = Ingestor(settings, self.pipeline, self.authenticator)
            protocols = rcfg.protocols
            started: list[OtlpGrpcReceiver | OtlpHttpReceiver] = []
            if protocols.grpc is not None:
                started.append(OtlpGrpcReceiver(protocols.grpc, ingestor))
            if protocols.http is not None:
                started.append(OtlpHttpReceiver(protocols.http, ingestor))
            for receiver in started:
                await receiver.start()
                self.receivers.append(receiver)
            _log.debug("receiver %s started", rid)
        self._started = True

    async def _start_api(self) -> None:
        from live_tail.app import create_app

        sock = bind(self.config.api.endpoint, "HTTP API")
        app = create_app(
            self.history_store,
            ready=self.ready,
            bus=self.live_bus,
            config=self.config.live_tail,
            auth=self.config.auth,
            authenticator=self.authenticator,
        )
        app.add_route("/metrics", _metrics, methods=["GET"], include_in_schema=False)
        server = QuietServer(
            uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=5)
        )
        self._api = server
        self._api_live = app.state.live
        self._api_task = asyncio.create_task(server.serve(sockets=[sock]), name="api")
        while not server.started:
            if self._api_task.done():
                await self._api_task
                raise OSError(f"HTTP API on {self.config.api.endpoint} did not start")
            await asyncio.sleep(0.01)
        _log.info("HTTP API listening on http://%s", self.config.api.endpoint)

    async def stop(self, timeout: float = 30.0) -> None:
        """Receivers first, then the API, then drain and stop the exporters."""
        self._started = False  # /readyz answers 503 from here on
        # Every receiver stops accepting at once; in-flight Exports get the same grace.
        await asyncio.gather(*(r.stop(grace=min(5.0, timeout)) for r in self.receivers))
        self.receivers.clear()
        if self._api is not None and self._api_task is not None:
            self._api_live.shutdown()  # open SSE streams end themselves, or uvicorn waits
            self._api.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._api_task, timeout=min(10.0, timeout))
            self._api = self._api_task = None
        for runner in self.runners:
            await runner.stop(timeout)
        self.runners.clear()
        if self.writers is not None:
            await self.writers.stop(timeout)
        if self.ingest is not None:
            await self.ingest.stop()
        await self.live_bus.close()

    async def run(self) -> None:
        """Start, serve until SIGINT or SIGTERM, then shut down gracefully."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await self.start()
            _log.info("tasklogs is running; data in %s", self.config.data_dir)
            await stop.wait()
            _log.info("shutting down: draining queues")
        finally:
            await self.stop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
