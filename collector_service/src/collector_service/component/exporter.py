"""Exporter plugins: the interface, the factory contract and entry-point discovery.

Modelled on the OpenTelemetry Collector: every exporter lives in one folder with a config
model (validated before any I/O), a factory and one ``push(batch)``. Queueing, batching,
retry and timeouts are the shared wrapper's job (:mod:`collector_service.pipeline`), never
the exporter's. Factories are found through the ``tasklogs.exporters`` entry-point group
and checked when loaded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Protocol, runtime_checkable

from pydantic import BaseModel

from collector_service.component.model import LogBatch
from collector_service.errors import ConfigError
from collector_service.pipeline.config import ExporterHelperConfig, split_exporter_config
from collector_service.service.config import Config

__all__ = [
    "ENTRY_POINT_GROUP",
    "Exporter",
    "ExporterContext",
    "ExporterFactory",
    "ExporterSpec",
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


@runtime_checkable
class Exporter(Protocol):
    """A destination for log batches.

    ``start`` may do I/O (connect, create schema) and raise; ``push`` writes one batch and
    raises :class:`~collector_service.errors.RetryableExportError` or
    :class:`~collector_service.errors.PermanentExportError`; ``shutdown`` releases
    resources. All three are called from a worker thread, never concurrently.
    """

    def start(self) -> None: ...

    def push(self, batch: LogBatch) -> None: ...

    def shutdown(self) -> None: ...


@runtime_checkable
class ExporterFactory(Protocol):
    """Creates exporters of one type from a validated config model."""

    type_name: str
    config_model: type[BaseModel]

    def create(self, config: BaseModel, context: ExporterContext) -> Exporter: ...


def load_factories() -> dict[str, ExporterFactory]:
    """Every installed exporter factory by type name, each checked against the contract."""
    factories: dict[str, ExporterFactory] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            factory = ep.load()
        except Exception as exc:
            raise ConfigError(
                f"exporter plugin {ep.name!r} ({ep.value}) failed to load: {exc}"
            ) from exc
        if not isinstance(factory, ExporterFactory) or not (
            isinstance(factory.config_model, type) and issubclass(factory.config_model, BaseModel)
        ):
            raise ConfigError(
                f"exporter plugin {ep.name!r} ({ep.value}) is not an ExporterFactory "
                "(needs type_name, a pydantic config_model and create())"
            )
        if factory.type_name != ep.name:
            raise ConfigError(
                f"exporter plugin {ep.name!r} declares type_name {factory.type_name!r}; "
                "they must match"
            )
        factories[ep.name] = factory
    return factories


@dataclass(frozen=True, slots=True)
class ExporterSpec:
    """One configured exporter, validated and ready to be created."""

    component_id: str
    factory: ExporterFactory
    config: BaseModel
    helper: ExporterHelperConfig

    @property
    def best_effort(self) -> bool:
        """The factory's ``best_effort`` class attribute (the live tail): such an exporter
        never makes receivers refuse; what it cannot take in time is skipped, counted."""
        return bool(getattr(self.factory, "best_effort", False))

    def create(self, data_dir: Path) -> Exporter:
        context = ExporterContext(component_id=self.component_id, data_dir=data_dir)
        return self.factory.create(self.config, context)


def resolve_exporters(
    config: Config, factories: dict[str, ExporterFactory] | None = None
) -> list[ExporterSpec]:
    """Every exporter the pipelines use, its section validated; no I/O happens here."""
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
        specs.append(ExporterSpec(cid, factory, own, helper))
    return specs
