"""The service's :class:`~collector_service.component.extension.Host`: what components share.

One :class:`ServiceHost` per process (``tasklogs serve``, ``tasklogs worker``, the
standalone API of an extension). It runs the extensions (created before any I/O, started
first, shut down last), knows which exporters are started (so :meth:`history_store` is
the one place that picks the store answering history), and collects what the extensions
add to the HTTP API: routers, metrics registries and readiness checks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from fastapi import APIRouter
from prometheus_client import CollectorRegistry

from collector_service.auth import AuthConfig, Authenticator
from collector_service.component.exporter import Exporter, ExporterSpec, is_best_effort
from collector_service.component.extension import Extension, ExtensionSpec
from collector_service.component.store import LogStore
from collector_service.metrics import REGISTRY
from collector_service.service.config import Config
from collector_service.stream.config import RedisConfig

__all__ = ["ServiceHost"]

_log = logging.getLogger(__name__)


class ServiceHost:
    """Implements :class:`~collector_service.component.extension.Host`.

    ``exporters`` returns the exporters started so far (the service's runners or
    writers); without it, the host knows only the exporters it started itself
    (:meth:`start_history_store`).
    """

    def __init__(
        self,
        *,
        data_dir: Path,
        redis: RedisConfig | None = None,
        auth: AuthConfig | None = None,
        authenticator: Authenticator | None = None,
        exporters: Callable[[], Iterable[object]] | None = None,
    ) -> None:
        self._data_dir = data_dir
        self._redis = redis
        self._auth = auth or AuthConfig()
        self._authenticator = authenticator or Authenticator(self._auth)
        self._own: list[Exporter] = []
        self._exporters = exporters or (lambda: self._own)
        self._created: dict[str, Extension] = {}
        self._started: dict[str, Extension] = {}
        self._checks: list[Callable[[], Iterable[str]]] = []
        #: Routers extensions added, served by the API (:func:`~.api.build_api`).
        self.routers: list[APIRouter] = []
        #: The core's metrics plus every registry added: what ``/metrics`` serves.
        self.metrics = CollectorRegistry(auto_describe=False)
        self.metrics.register(REGISTRY)

    @classmethod
    def from_config(
        cls,
        config: Config,
        authenticator: Authenticator | None = None,
        exporters: Callable[[], Iterable[object]] | None = None,
    ) -> ServiceHost:
        return cls(
            data_dir=config.data_dir,
            redis=config.redis,
            auth=config.auth,
            authenticator=authenticator,
            exporters=exporters,
        )

    # -- Host ------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    @property
    def redis(self) -> RedisConfig | None:
        return self._redis

    @property
    def auth(self) -> AuthConfig:
        return self._auth

    @property
    def authenticator(self) -> Authenticator:
        return self._authenticator

    def history_store(self) -> LogStore | None:
        for exporter in self._exporters():
            if isinstance(exporter, LogStore):
                return exporter
        return None

    def extension(self, type_name: str) -> Extension | None:
        return self._started.get(type_name)

    def add_router(self, router: APIRouter) -> None:
        self.routers.append(router)

    def add_metrics(self, registry: CollectorRegistry) -> None:
        if registry is not REGISTRY:
            self.metrics.register(registry)

    def add_readiness_check(self, check: Callable[[], Iterable[str]]) -> None:
        self._checks.append(check)

    def not_ready(self) -> list[str]:
        return [reason for check in self._checks for reason in check()]

    # -- extensions ------------------------------------------------------------------

    def create_extensions(self, specs: Sequence[ExtensionSpec]) -> list[Extension]:
        """Create every extension of ``specs`` (no I/O); see :meth:`start_extensions`."""
        for spec in specs:
            self._created[spec.type_name] = spec.create(self._data_dir)
        return list(self._created.values())

    @property
    def extensions(self) -> list[Extension]:
        """The extensions created, started or not."""
        return list(self._created.values())

    async def start_extensions(self) -> None:
        """Start every created extension, in order; the first failure is raised."""
        for type_name, extension in self._created.items():
            if type_name not in self._started:
                await extension.start(self)
                self._started[type_name] = extension
                _log.debug("extension %s started", type_name)

    def drain_extensions(self) -> None:
        """The service begins stopping: every started extension ends long-lived work."""
        for type_name, extension in self._started.items():
            try:
                extension.draining()
            except Exception:  # noqa: BLE001 - one extension must not keep the rest running
                _log.exception("extension %s failed while draining", type_name)

    async def shutdown_extensions(self) -> None:
        """Shut every started extension down, the last started first."""
        while self._started:
            type_name, extension = self._started.popitem()
            try:
                await extension.shutdown()
            except Exception:  # noqa: BLE001 - the others still shut down
                _log.exception("extension %s failed to shut down", type_name)

    # -- a reader's store ------------------------------------------------------------

    def start_history_store(self, specs: Sequence[ExporterSpec]) -> LogStore | None:
        """For readers (the CLI, a standalone API): create the exporters of ``specs`` in
        order (best-effort ones need not exist here) and start only the first one that is a
        store; :meth:`history_store` then answers it. Its start errors are raised;
        :meth:`stop_exporters` stops it."""
        for spec in specs:
            if is_best_effort(spec.factory):
                continue
            exporter = spec.create(self._data_dir)
            if isinstance(exporter, LogStore):
                exporter.start()
                self._own.append(exporter)
                break
        return self.history_store()

    def stop_exporters(self) -> None:
        """Shut down the exporters this host started itself."""
        while self._own:
            self._own.pop().shutdown()
