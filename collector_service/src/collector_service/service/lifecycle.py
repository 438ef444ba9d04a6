"""The service: extensions, exporters, pipeline, the HTTP API and receivers, in order.

As in the OpenTelemetry Collector: every config is validated before any I/O; extensions
start first, then exporters, the API and receivers; receivers stop first, then the
extensions are told the service is draining (long-lived responses end), the API stops,
queues drain into the exporters, and the extensions shut down last. Nothing raised by an
exporter after start-up stops the process. The core knows no plugin: components share
through the :class:`~collector_service.service.host.ServiceHost`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Iterator, Mapping

import uvicorn

from collector_service.auth import Authenticator
from collector_service.component.exporter import (
    Exporter,
    ExporterFactory,
    contributed_exporters,
    resolve_exporters,
)
from collector_service.component.extension import ExtensionFactory, resolve_extensions
from collector_service.component.store import HistoryPage, HistoryQuery, LogStore
from collector_service.errors import StoreError
from collector_service.gc_tune import settle_heap
from collector_service.malloc_tune import trim_forever
from collector_service.pipeline.deadletter import FileDeadLetter
from collector_service.pipeline.memory import ExporterRunner
from collector_service.pipeline.router import Pipeline
from collector_service.receivers import (
    Ingestor,
    OtlpGrpcReceiver,
    OtlpHttpReceiver,
    ReceiverSettings,
)
from collector_service.service.api import build_api
from collector_service.service.config import Config
from collector_service.service.host import ServiceHost
from collector_service.serving import QuietServer, bind
from collector_service.stream.consumer import RedisWriters
from collector_service.stream.queue import RedisIngest

__all__ = ["Service"]

_log = logging.getLogger(__name__)


class Service:
    """One tasklogs process. Build it from a :class:`Config`; ``run()`` until a signal."""

    def __init__(
        self,
        config: Config,
        factories: dict[str, ExporterFactory] | None = None,
        *,
        writers: bool | None = None,
        extensions: Mapping[str, ExtensionFactory] | None = None,
    ) -> None:
        """``factories`` / ``extensions``: the exporter and extension plugins (default:
        every installed one, from their entry points)."""
        self.config = config
        self.authenticator = Authenticator(config.auth)  # secrets read before any I/O
        self.host = ServiceHost.from_config(config, self.authenticator, self._exporters)
        self.host.add_readiness_check(self._not_ready)
        # Every section is validated before any I/O: exporters, then extensions.
        self._specs = resolve_exporters(config, factories, host=self.host)
        self.host.create_extensions(resolve_extensions(config.extensions, extensions))
        self._specs += contributed_exporters(self._specs, self.host.extensions, self.host)
        self.runners: list[ExporterRunner] = []
        # With Redis: the durable ingest stream, and (unless receiver-only) the writers.
        self.ingest: RedisIngest | None = None
        self.writers: RedisWriters | None = None
        if config.redis is not None:
            self.ingest = RedisIngest(
                config.redis,
                [s.component_id for s in self._specs],
                best_effort=[s.component_id for s in self._specs if s.best_effort],
            )
            if config.redis.ingest.writers if writers is None else writers:
                self.writers = RedisWriters(config, self._specs)
        self.pipeline = Pipeline(self.runners, self.ingest, store_failing=self._store_failing)
        self.receivers: list[OtlpGrpcReceiver | OtlpHttpReceiver] = []
        self._api: QuietServer | None = None
        self._api_task: asyncio.Task[None] | None = None
        self._started = False
        #: Receiver-only (``--no-writers``): the store this API reads history from.
        self._reader: LogStore | None = None

    def _exporters(self) -> Iterator[Exporter]:
        """The exporters started so far, in pipeline order."""
        for runner in self.runners:
            yield runner.exporter
        for handle in self.writers.handles if self.writers is not None else []:
            yield handle.exporter
        if self._reader is not None:
            yield self._reader  # type: ignore[misc]  # a LogStore, maybe no Exporter

    def not_ready(self) -> list[str]:
        """Why the service cannot take logs now: empty when it is ready."""
        return self.host.not_ready()

    def _not_ready(self) -> list[str]:
        if not self._started:
            return ["not started, or stopping"]
        reasons = (
            []
            if self.ingest is None or self.ingest.unavailable is None
            else [self.ingest.unavailable]
        )
        if self.ingest is not None and self.ingest.store_failing is not None:
            reasons.append(self.ingest.store_failing)
        handles = [r.handle for r in self.runners]
        handles += self.writers.handles if self.writers is not None else []
        reasons += [h.not_ready for h in handles if h.not_ready is not None]
        return list(dict.fromkeys(reasons))

    def _store_failing(self) -> str | None:
        """Why a durable exporter of this process cannot write (receivers then refuse)."""
        handles = [(r.handle, r.best_effort) for r in self.runners]
        if self.writers is not None:
            specs = self.writers.specs
            handles += [
                (h, s.best_effort) for h, s in zip(self.writers.handles, specs, strict=False)
            ]
        for handle, best_effort in handles:
            if not best_effort and handle.not_ready is not None:
                return handle.not_ready
        return None

    def ready(self) -> bool:
        """Ready only when started, the durable queue answers and every exporter can write."""
        return not self.not_ready()

    async def start(self) -> None:
        """Extensions, exporters, the API, then receivers. Undo everything on failure."""
        try:
            await self._start()
        except BaseException:
            await self.stop(timeout=5.0)
            raise

    async def _start(self) -> None:
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        await self.host.start_extensions()
        if self.ingest is not None:
            if self.writers is not None:
                await self.writers.start()
            else:
                _log.info("receiver-only: writers run as `tasklogs worker` processes")
                await self._start_reader()
            await self.ingest.start()
        else:
            dead_letter = FileDeadLetter(self.config.data_dir)
            for spec in self._specs:
                exporter = spec.create(self.config.data_dir)
                runner = ExporterRunner(
                    spec.component_id,
                    exporter,
                    spec.helper,
                    dead_letter,
                    best_effort=spec.best_effort,
                )
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
            settings = ReceiverSettings(
                rid, rcfg.require_task_identity, rcfg.max_requests_per_tenant
            )
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

    async def _start_reader(self) -> None:
        """Receiver-only: history still comes from the store. A store any process may
        read (PostgreSQL, a ClickHouse server) is opened here for reading; an embedded
        one (chDB: one owner per directory, the worker) cannot be, so history answers
        503 saying why and what to run instead."""
        for spec in self._specs:
            if spec.best_effort:
                continue
            exporter = spec.create(self.config.data_dir)
            if not isinstance(exporter, LogStore):
                continue
            if getattr(exporter, "embedded", False):
                self._reader = _OwnedElsewhere(spec.component_id)
                _log.warning("%s", self._reader.reason)
                return
            await asyncio.to_thread(exporter.start)
            self._reader = exporter
            return

    async def _start_api(self) -> None:
        sock = bind(self.config.api.endpoint, "HTTP API")
        app = build_api(self.host)
        server = QuietServer(
            uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=5)
        )
        self._api = server
        self._api_task = asyncio.create_task(server.serve(sockets=[sock]), name="api")
        while not server.started:
            if self._api_task.done():
                await self._api_task
                raise OSError(f"HTTP API on {self.config.api.endpoint} did not start")
            await asyncio.sleep(0.01)
        _log.info("HTTP API listening on http://%s", self.config.api.endpoint)

    async def stop(self, timeout: float = 30.0) -> None:
        """Receivers first, then the API (extensions told first), then drain and stop the
        exporters; the extensions shut down last."""
        self._started = False  # /readyz answers 503 from here on
        began = time.monotonic()

        def phase(what: str) -> None:
            _log.info("shutdown: %s after %.2fs", what, time.monotonic() - began)

        # Every receiver stops accepting at once; in-flight Exports get the same grace.
        await asyncio.gather(*(r.stop(grace=min(5.0, timeout)) for r in self.receivers))
        self.receivers.clear()
        phase("receivers stopped")
        self.host.drain_extensions()  # open SSE streams end themselves, or uvicorn waits
        if self._api is not None and self._api_task is not None:
            self._api.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._api_task, timeout=min(10.0, timeout))
            self._api = self._api_task = None
            phase("API stopped")
        for runner in self.runners:
            await runner.stop(timeout)
        self.runners.clear()
        if self.writers is not None:
            await self.writers.stop(timeout)
        phase("writers drained")
        if self.ingest is not None:
            await self.ingest.stop()
        reader, self._reader = self._reader, None
        shutdown = getattr(reader, "shutdown", None)
        if shutdown is not None:
            await asyncio.to_thread(shutdown)
        await self.host.shutdown_extensions()
        phase("done")

    async def run(self) -> None:
        """Start, serve until SIGINT or SIGTERM, then shut down gracefully."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        trimmer: asyncio.Task[None] | None = None
        try:
            await self.start()
            settle_heap()  # start-up ends here: no full GC pass over its heap from now on
            trimmer = asyncio.create_task(trim_forever(), name="malloc-trim")
            _log.info("tasklogs is running; data in %s", self.config.data_dir)
            await stop.wait()
            _log.info("shutting down: draining queues")
        finally:
            if trimmer is not None:
                trimmer.cancel()
            await self.stop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


class _OwnedElsewhere:
    """The history store of a receiver-only service whose store is an embedded chDB
    directory owned by a ``tasklogs worker``: every query explains, and says what works."""

    def __init__(self, exporter: str) -> None:
        self.reason = (
            f"history is not served by this receiver-only process: exporter {exporter} is "
            "an embedded chDB directory, owned by the `tasklogs worker` that writes it (one "
            "process per directory). With chDB run the writers inside `tasklogs serve` "
            "(without --no-writers; workers then only for other exporters), or use a "
            "ClickHouse server (dsn: http://...) or PostgreSQL, which any process can read"
        )

    def query(self, query: HistoryQuery) -> HistoryPage:
        raise StoreError(self.reason)
