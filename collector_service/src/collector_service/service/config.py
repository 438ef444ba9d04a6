"""Service configuration, in the OpenTelemetry Collector's shape.

::

    receivers:
      otlp:
        protocols:
          grpc: {endpoint: 127.0.0.1:4317}
          http: {endpoint: 127.0.0.1:4318}
        require_task_identity: false
    exporters:
      clickhouse:                  # "type" or "type/name"
        dsn: chdb:///var/lib/tasklogs/chdb
        sending_queue: {queue_size: 1000000}
    service:
      pipelines:
        logs: {receivers: [otlp], exporters: [clickhouse]}
    api: {endpoint: 127.0.0.1:8080}
    extensions:                    # every installed extension runs; a section configures it
      <type>: {...}

Unknown keys are rejected. ``TASKLOGS_*`` environment overrides and ``${env:...}`` /
``${file:...}`` secrets are applied before validation (:mod:`collector_service.service.config_env`).
Exporter sections are validated in two parts: the shared wrapper keys
(``sending_queue``, ``batch``, ``retry_on_failure``, ``timeout``) here, the rest by the
exporter factory's own model, all before any I/O; extension sections by the extension
factory's model, also before any I/O.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    Field,
    ValidationError,
    field_validator,
)

from collector_service.auth import AuthConfig
from collector_service.component.config import StrictModel, check_endpoint, format_validation
from collector_service.errors import ConfigError
from collector_service.receivers.config import OtlpReceiverConfig
from collector_service.stream.config import RedisConfig

__all__ = [
    "ApiConfig",
    "Config",
    "LogsPipeline",
    "ServiceSection",
    "default_data_dir",
    "load_config",
]


class ApiConfig(StrictModel):
    """The HTTP API (history, health); ``enabled: false`` turns it off."""

    enabled: bool = True
    endpoint: str = "127.0.0.1:8080"

    _endpoint = field_validator("endpoint")(check_endpoint)


class LogsPipeline(StrictModel):
    receivers: list[str] = Field(min_length=1)
    exporters: list[str] = Field(min_length=1)


class ServiceSection(StrictModel):
    pipelines: dict[str, LogsPipeline]

    @field_validator("pipelines")
    @classmethod
    def _only_logs(cls, value: dict[str, LogsPipeline]) -> dict[str, LogsPipeline]:
        for name in value:
            if name.split("/", 1)[0] != "logs":
                raise ValueError(f"pipeline {name!r}: tasklogs carries logs pipelines only")
        return value


def default_data_dir() -> Path:
    """The data directory: ``$TASKLOGS_DATA_DIR``, ``$XDG_DATA_HOME/tasklogs``,
    or ``~/.local/share/tasklogs``."""
    if env := os.environ.get("TASKLOGS_DATA_DIR"):
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tasklogs"


class Config(StrictModel):
    data_dir: Path = Field(default_factory=default_data_dir)
    receivers: dict[str, OtlpReceiverConfig] = {"otlp": OtlpReceiverConfig()}
    exporters: dict[str, dict[str, Any]] = {"clickhouse": {}}
    service: ServiceSection = ServiceSection(
        pipelines={"logs": LogsPipeline(receivers=["otlp"], exporters=["clickhouse"])}
    )
    api: ApiConfig = ApiConfig()
    redis: RedisConfig | None = None
    auth: AuthConfig = AuthConfig()
    #: ``extensions.<type>``: each installed extension's section, validated by its
    #: factory's config model before any I/O; an extension not listed runs with its
    #: defaults (:mod:`collector_service.component.extension`).
    extensions: dict[str, dict[str, Any] | None] = {}

    @field_validator("receivers")
    @classmethod
    def _receiver_types(cls, value: dict[str, OtlpReceiverConfig]) -> dict[str, OtlpReceiverConfig]:
        for cid in value:
            if cid.split("/", 1)[0] != "otlp":
                raise ValueError(f"receiver {cid!r}: only the 'otlp' receiver type exists")
        return value

    def model_post_init(self, context: Any, /) -> None:
        for name, pipe in self.service.pipelines.items():
            for rid in pipe.receivers:
                if rid not in self.receivers:
                    raise ValueError(
                        f"service.pipelines.{name}: receiver {rid!r} is not configured"
                    )
            for eid in pipe.exporters:
                if eid not in self.exporters:
                    raise ValueError(
                        f"service.pipelines.{name}: exporter {eid!r} is not configured"
                    )

    def pipeline_exporters(self) -> list[str]:
        """Exporter ids used by any pipeline, in first-use order, each once."""
        seen: dict[str, None] = {}
        for pipe in self.service.pipelines.values():
            seen.update(dict.fromkeys(pipe.exporters))
        return list(seen)


def load_config(
    path: Path | None = None,
    *,
    data_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read and validate a YAML config file (or the defaults when ``path`` is None).

    ``TASKLOGS_*`` environment overrides and ``${env:...}``/``${file:...}`` secrets are
    applied first (see :mod:`collector_service.service.config_env`); ``environ`` defaults to
    ``os.environ``.
    """
    from collector_service.service.config_env import apply_env_overrides, expand_secrets

    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {path}: the top level must be a mapping")
        raw = loaded or {}
    where = f"config file {path}" if path else "config"
    sources = apply_env_overrides(raw, env)
    raw = expand_secrets(raw, env)
    if data_dir is not None:
        raw["data_dir"] = data_dir
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {format_validation(exc, sources=sources)}") from exc
