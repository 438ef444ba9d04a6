"""Extensions and the host: how plugins add to the service without the core knowing them.

In the spirit of the OpenTelemetry Collector's ``component.Host`` and extensions: an
extension is a plugin (entry-point group ``tasklogs.extensions``) with a pydantic config
model and a factory. The service creates every installed extension (its section under
``extensions:``, or its defaults), validates every section before any I/O, and starts
the extensions first and shuts them down last. What components share, they share through
the :class:`Host`: the data directory, the Redis and auth config, the authenticator, the
store that answers history, the other extensions, the HTTP API (routers) and
``/metrics`` (registries), and readiness.

Lifecycle of an extension::

    create(config, context)   no I/O: the service may still refuse the config
    default_exporters()       exporters added to every pipeline unless one of that type
                              is configured (read once, before any I/O)
    await start(host)         extensions first: before exporters, API and receivers
    draining()                the service begins stopping: end long-lived responses
                              (e.g. SSE streams) so the API can stop at once
    await shutdown()          last, after the exporters drained
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel, ValidationError

from collector_service.component.config import format_validation
from collector_service.component.plugin import load_plugins
from collector_service.errors import ConfigError

if TYPE_CHECKING:
    from fastapi import APIRouter
    from prometheus_client import CollectorRegistry

    from collector_service.auth import AuthConfig, Authenticator
    from collector_service.component.exporter import ExporterFactory
    from collector_service.component.store import LogStore
    from collector_service.stream.config import RedisConfig

__all__ = [
    "ENTRY_POINT_GROUP",
    "ExporterContribution",
    "Extension",
    "ExtensionContext",
    "ExtensionFactory",
    "ExtensionSpec",
    "Host",
    "load_extension_factories",
    "resolve_extensions",
]

ENTRY_POINT_GROUP = "tasklogs.extensions"


@runtime_checkable
class Host(Protocol):
    """What the service offers its components (extensions and exporters)."""

    @property
    def data_dir(self) -> Path:
        """Directory for embedded state."""
        ...

    @property
    def redis(self) -> RedisConfig | None:
        """The ``redis:`` section, or None when the service runs without Redis."""
        ...

    @property
    def auth(self) -> AuthConfig:
        """The ``auth:`` section (tenants, signing key)."""
        ...

    @property
    def authenticator(self) -> Authenticator:
        """Bearer token to tenant, shared with the receivers."""
        ...

    def history_store(self) -> LogStore | None:
        """The store that answers history: the first started exporter that is a
        :class:`~collector_service.component.store.LogStore` (None before exporters start
        or when none is). Call it when answering, not at start: extensions start first."""
        ...

    def extension(self, type_name: str) -> Extension | None:
        """The running extension of ``type_name``, or None."""
        ...

    def add_router(self, router: APIRouter) -> None:
        """Serve ``router``'s routes on the HTTP API (when the service runs one)."""
        ...

    def add_metrics(self, registry: CollectorRegistry) -> None:
        """Serve ``registry`` at ``/metrics`` beside the core's own metrics."""
        ...

    def add_readiness_check(self, check: Callable[[], Iterable[str]]) -> None:
        """``check()`` returns why the service cannot take logs now (empty: ready)."""
        ...

    def not_ready(self) -> list[str]:
        """Every reason the service is not ready; empty when it is."""
        ...


@dataclass(frozen=True, slots=True)
class ExporterContribution:
    """An exporter an extension adds to every pipeline when none of its type is configured.

    ``section`` is what a config would hold under ``exporters.<type>``: the shared
    wrapper's keys (``batch``, ``sending_queue``...) and the factory's own, validated like
    any configured exporter. The component id is the factory's ``type_name``.
    """

    factory: ExporterFactory
    section: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Extension(Protocol):
    """A running extension. See the module docstring for the order of the calls."""

    def default_exporters(self) -> Sequence[ExporterContribution]:
        """Exporters to add to every pipeline that configures none of their type."""
        ...

    async def start(self, host: Host) -> None: ...

    def draining(self) -> None:
        """The service begins stopping: end long-lived responses (no I/O, no waiting)."""
        ...

    async def shutdown(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ExtensionContext:
    """What the service tells an extension when creating it."""

    #: The extension's type name (its key under ``extensions:``).
    type_name: str
    #: Directory for embedded state.
    data_dir: Path


@runtime_checkable
class ExtensionFactory(Protocol):
    """Creates the extension of one type from a validated config model (no I/O)."""

    type_name: str
    config_model: type[BaseModel]

    def create(self, config: BaseModel, context: ExtensionContext) -> Extension: ...


@dataclass(frozen=True, slots=True)
class ExtensionSpec:
    """One extension to run, its section validated."""

    factory: ExtensionFactory
    config: BaseModel

    @property
    def type_name(self) -> str:
        return self.factory.type_name

    def create(self, data_dir: Path) -> Extension:
        return self.factory.create(self.config, ExtensionContext(self.type_name, data_dir))


def load_extension_factories() -> dict[str, ExtensionFactory]:
    """Every installed extension factory by type name, each checked against the contract."""
    return load_plugins(ENTRY_POINT_GROUP, "extension", ExtensionFactory)


def resolve_extensions(
    sections: Mapping[str, Mapping[str, Any] | None],
    factories: Mapping[str, ExtensionFactory] | None = None,
) -> list[ExtensionSpec]:
    """Every installed extension, with its ``extensions.<type>`` section (or its defaults)
    validated by its own config model; no I/O happens here."""
    factories = load_extension_factories() if factories is None else factories
    for type_name in sections:
        if type_name not in factories:
            known = ", ".join(sorted(factories)) or "none installed"
            raise ConfigError(
                f"extensions.{type_name}: unknown extension type {type_name!r} (known: {known})"
            )
    specs = []
    for type_name, factory in factories.items():
        try:
            config = factory.config_model.model_validate(dict(sections.get(type_name) or {}))
        except ValidationError as exc:
            raise ConfigError(
                f"config: {format_validation(exc, f'extensions.{type_name}')}"
            ) from exc
        specs.append(ExtensionSpec(factory, config))
    return specs
