"""Exporter plugins: the interface, the factory contract and entry-point discovery.

Modelled on the OpenTelemetry Collector: every exporter lives in one folder with a config
model (validated before any I/O), a factory and one ``push(batch)``. Queueing, batching,
retry and timeouts are the shared wrapper's job (:mod:`collector_service.pipeline`), never
the exporter's. Factories are found through the ``tasklogs.exporters`` entry-point group
and checked when loaded.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from pydantic import BaseModel

from collector_service.component.model import LogBatch
from collector_service.component.plugin import load_plugins
from collector_service.errors import ConfigError
from collector_service.pipeline.config import ExporterHelperConfig, split_exporter_config
from collector_service.service.config import Config

if TYPE_CHECKING:
    from collector_service.component.extension import Extension, Host

__all__ = [
    "ENTRY_POINT_GROUP",
    "Exporter",
    "ExporterContext",
    "ExporterFactory",
    "ExporterSpec",
    "contributed_exporters",
    "is_best_effort",
    "load_factories",
    "resolve_exporters",
]

ENTRY_POINT_GROUP = "tasklogs.exporters"
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ExporterContext:
    """What the service tells an exporter about where it runs."""

    #: The component id from config, ``type`` or ``type/name`` (e.g. ``clickhouse/main``).
    component_id: str
    #: Directory for embedded state (e.g. the chDB data directory).
    data_dir: Path
    #: What the service shares with its components (extensions, the history store...);
    #: None only for an exporter created outside a service (tests, tools).
    host: Host | None = None


@runtime_checkable
class Exporter(Protocol):
    """A destination for log batches.

    ``start`` may do I/O (connect, create schema) and raise; ``push`` writes one batch and
    raises :class:`~collector_service.errors.RetryableExportError` or
    :class:`~collector_service.errors.PermanentExportError`; ``shutdown`` releases
    resources. All three are called from a worker thread, never concurrently.

    Optional ``probe() -> str | None`` (called on the same thread every few seconds):
    why the destination cannot take writes now (a full disk, a server down), or
    ``None``. The service is then not ready and receivers refuse (retryable), even while
    nothing is being written.
    """

    def start(self) -> None: ...

    def push(self, batch: LogBatch) -> None: ...

    def shutdown(self) -> None: ...


@runtime_checkable
class ExporterFactory(Protocol):
    """Creates exporters of one type from a validated config model.

    Optional class attribute ``best_effort = True`` (:func:`is_best_effort`): the
    exporter is no record of the logs (a lost batch is acceptable, it answers no history).
    """

    type_name: str
    config_model: type[BaseModel]

    def create(self, config: BaseModel, context: ExporterContext) -> Exporter: ...


def load_factories() -> dict[str, ExporterFactory]:
    """Every installed exporter factory by type name, each checked against the contract."""
    return load_plugins(ENTRY_POINT_GROUP, "exporter", ExporterFactory)


@dataclass(frozen=True, slots=True)
class ExporterSpec:
    """One configured exporter, validated and ready to be created."""

    component_id: str
    factory: ExporterFactory
    config: BaseModel
    helper: ExporterHelperConfig
    #: Passed to the exporter in its :class:`ExporterContext`.
    host: Host | None = None

    @property
    def best_effort(self) -> bool:
        """The factory's ``best_effort`` class attribute (the live tail): such an exporter
        never makes receivers refuse; what it cannot take in time is skipped, counted."""
        return bool(getattr(self.factory, "best_effort", False))

    def create(self, data_dir: Path) -> Exporter:
        context = ExporterContext(self.component_id, data_dir, self.host)
        return self.factory.create(self.config, context)


def resolve_exporters(
    config: Config,
    factories: dict[str, ExporterFactory] | None = None,
    *,
    host: Host | None = None,
) -> list[ExporterSpec]:
    """Every exporter the pipelines use, its section validated; no I/O happens here.

    Each spec creates its exporter with ``host`` in the :class:`ExporterContext`.
    """
    factories = load_factories() if factories is None else factories
    specs = []
    for cid in config.pipeline_exporters():
        type_name = cid.split("/", 1)[0]
        factory = factories.get(type_name)
        if factory is None:
            known = ", ".join(sorted(factories)) or "none installed"
            raise ConfigError(
                f"exporters.{cid}: unknown exporter type {type_name!r} (known: {known})"
            )
        own, helper = split_exporter_config(cid, config.exporters[cid], factory.config_model)
        specs.append(ExporterSpec(cid, factory, own, helper, host))
    return specs


def contributed_exporters(
    specs: Sequence[ExporterSpec], extensions: Sequence[Extension], host: Host | None = None
) -> list[ExporterSpec]:
    """The exporters ``extensions`` contribute (:meth:`Extension.default_exporters`) that
    the pipelines lack: one per type no configured exporter has, with id ``type_name``,
    its section validated like a configured one. No I/O happens here."""
    have = {spec.factory.type_name for spec in specs}
    added: list[ExporterSpec] = []
    for extension in extensions:
        for contribution in extension.default_exporters():
            type_name = contribution.factory.type_name
            if type_name in have:
                continue
            have.add(type_name)
            own, helper = split_exporter_config(
                type_name, dict(contribution.section), contribution.factory.config_model
            )
            added.append(ExporterSpec(type_name, contribution.factory, own, helper, host))
    return added


def is_best_effort(factory: ExporterFactory) -> bool:
    """A factory may declare ``best_effort = True``: its exporter is no record of the logs
    (e.g. a live publisher), so it answers no history and readers need not create it."""
    return getattr(factory, "best_effort", False) is True
