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

Unknown keys are rejected. ``TASKLOGS_*`` environment overrides and ``${env:...}`` /
``${file:...}`` secrets are applied before validation (:mod:`collector_service.config_env`).
Exporter sections are validated in two parts: the shared wrapper keys
(``sending_queue``, ``batch``, ``retry_on_failure``, ``timeout``) here, the rest by the
exporter factory's own model, all before any I/O.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    FilePath,
    SecretStr,
    ValidationError,
    field_validator,
)

from collector_service.errors import ConfigError
from live_tail.config import LiveTailConfig

__all__ = [
    "ApiConfig",
    "AuthConfig",
    "BatchConfig",
    "Config",
    "CorsConfig",
    "Duration",
    "ExporterHelperConfig",
    "GrpcConfig",
    "HttpConfig",
    "IngestConfig",
    "OtlpProtocols",
    "OtlpReceiverConfig",
    "RedisConfig",
    "RetryConfig",
    "TenantConfig",
    "TlsConfig",
    "default_data_dir",
    "load_config",
    "parse_duration",
    "split_exporter_config",
]

HELPER_KEYS = ("sending_queue", "batch", "retry_on_failure", "timeout")


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: object) -> object:
    """Go-style durations as the Collector writes them: ``168h``, ``1h30m``, ``90s``, ``7d``.

    Numbers are seconds; anything that is not a string is left to pydantic.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if not isinstance(value, str):
        return value
    text = value.strip()
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if not text or pos != len(text):
        raise ValueError(f"invalid duration {value!r}: use e.g. 168h, 1h30m, 90s or 7d")
    return timedelta(seconds=total)


#: A duration field that accepts ``168h``-style strings or seconds.
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_endpoint(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"endpoint must be HOST:PORT, got {value!r}")
    return value


class TlsConfig(_Strict):
    """TLS for a receiver (the Collector's ``tls`` keys); files are checked at load time."""

    cert_file: FilePath
    key_file: FilePath
    #: When set, clients must present a certificate signed by this CA (mutual TLS).
    client_ca_file: FilePath | None = None


class GrpcConfig(_Strict):
    endpoint: str = "127.0.0.1:4317"
    max_recv_msg_size_mib: int = Field(default=16, ge=1, le=1024)
    #: Serve TLS (needed e.g. by the Collector's bearertokenauth over gRPC).
    tls: TlsConfig | None = None

    _endpoint = field_validator("endpoint")(_check_endpoint)


class CorsConfig(_Strict):
    """Browser access to OTLP/HTTP (off unless origins are listed)."""

    #: Origins allowed to POST logs from a browser, e.g. ``https://ci.example.com``.
    allowed_origins: list[str] = []
    #: Extra request headers a browser may send (``Content-Type`` and friends always).
    allowed_headers: list[str] = []
    #: Seconds a browser may cache the preflight answer.
    max_age: int = Field(default=7200, ge=0)


class HttpConfig(_Strict):
    """OTLP/HTTP: ``POST /v1/logs`` with a protobuf or JSON body."""

    endpoint: str = "127.0.0.1:4318"
    #: Largest request body in bytes, on the wire and after decompression (no zip bombs).
    max_request_body_size: int = Field(default=20 * 1024 * 1024, ge=1024)
    cors: CorsConfig = CorsConfig()
    tls: TlsConfig | None = None

    _endpoint = field_validator("endpoint")(_check_endpoint)


class OtlpProtocols(_Strict):
    """As in the Collector, a protocol runs when its section is present (``grpc: {}``)."""

    grpc: GrpcConfig | None = None
    http: HttpConfig | None = None

    def model_post_init(self, context: Any, /) -> None:
        if self.grpc is None and self.http is None:
            raise ValueError("no protocol configured: add grpc: {} and/or http: {}")


class OtlpReceiverConfig(_Strict):
    #: With no config file at all both protocols run on their default loopback ports.
    protocols: OtlpProtocols = OtlpProtocols(grpc=GrpcConfig(), http=HttpConfig())
    #: Reject (via ``partial_success``) records whose resource lacks
    #: ``cicd.pipeline.task.run.id``; the rest of the request is accepted.
    require_task_identity: bool = False


class ApiConfig(_Strict):
    """The HTTP API (history, health); ``enabled: false`` turns it off."""

    enabled: bool = True
    endpoint: str = "127.0.0.1:8080"

    _endpoint = field_validator("endpoint")(_check_endpoint)


class QueueConfig(_Strict):
    #: Records the exporter may hold before the receivers refuse with backpressure.
    queue_size: int = Field(default=1_000_000, ge=1)


class BatchConfig(_Strict):
    #: Most records per ``push``; large blocks are what columnar stores want.
    send_batch_max_size: int = Field(default=65_536, ge=1)
    #: How long to wait for more records once the first one arrived.
    timeout_ms: int = Field(default=200, ge=0)


class RetryConfig(_Strict):
    enabled: bool = True
    initial_interval_ms: int = Field(default=100, ge=1)
    max_interval_ms: int = Field(default=10_000, ge=1)
    #: Give up (count and dead-letter) after this long; never retry forever.
    max_elapsed_time_s: float = Field(default=300.0, gt=0)


class ExporterHelperConfig(_Strict):
    """Keys of every exporter section that the shared wrapper owns."""

    sending_queue: QueueConfig = QueueConfig()
    batch: BatchConfig = BatchConfig()
    retry_on_failure: RetryConfig = RetryConfig()
    #: Upper bound on one ``push``; a push that takes longer counts as a retryable failure.
    timeout: float = Field(default=30.0, gt=0)


class LogsPipeline(_Strict):
    receivers: list[str] = Field(min_length=1)
    exporters: list[str] = Field(min_length=1)


class ServiceSection(_Strict):
    pipelines: dict[str, LogsPipeline]

    @field_validator("pipelines")
    @classmethod
    def _only_logs(cls, value: dict[str, LogsPipeline]) -> dict[str, LogsPipeline]:
        for name in value:
            if name.split("/", 1)[0] != "logs":
                raise ValueError(f"pipeline {name!r}: tasklogs carries logs pipelines only")
        return value


class IngestConfig(_Strict):
    """The durable ingest stream (``redis.ingest``): its bound, sharding and consumers."""

    #: Ingest streams (``{<key_prefix>:ingest:<n>}``); more spread a Redis Cluster's load.
    shards: int = Field(default=1, ge=1, le=256)
    #: Entries (Export requests) not yet acknowledged by the slowest exporter, per shard,
    #: past which receivers refuse with backpressure. Bounds Redis memory (a 512-record
    #: request of ~200-byte lines is ~100 KB: 2048 entries ~ 200 MB per stream).
    max_backlog_entries: int = Field(default=2048, ge=1)
    #: Entries one XREADGROUP fetches; a consumer gathers up to the exporter's
    #: ``batch.send_batch_max_size`` records (or ``batch.timeout_ms``) into one write.
    read_count: int = Field(default=128, ge=1)
    #: How long a consumer blocks waiting for new entries.
    block_ms: int = Field(default=500, ge=1)
    #: A consumer whose heartbeat is older than this is dead: its pending batch is
    #: claimed and replayed (same entries, same dedup token) by another consumer.
    heartbeat_timeout_s: float = Field(default=10.0, gt=0)
    #: Dead-letter entries kept per exporter (oldest dropped past it).
    dead_letter_maxlen: int = Field(default=100_000, ge=1)
    #: Run the writers (stream consumers) inside ``tasklogs serve``; ``false`` for
    #: receiver-only processes, with writers in ``tasklogs worker --exporter NAME``.
    writers: bool = True


class RedisConfig(_Strict):
    """Redis for the durable ingest stream and the live bus (absent: embedded default)."""

    #: ``redis://host:port/db`` (``rediss://`` for TLS); for a cluster, any one node.
    url: str
    #: Redis Cluster: keys of one pipeline run share a hash tag, so they sit on one slot.
    cluster: bool = False
    #: Prefix of every key this service writes, so several deployments share a Redis.
    key_prefix: str = Field(default="tasklogs", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    ingest: IngestConfig = IngestConfig()


class TenantConfig(_Strict):
    """Bearer tokens of one tenant: literal, from environment variables, or from files."""

    tokens: list[SecretStr] = []
    token_env: list[str] = []
    token_files: list[Path] = []


class AuthConfig(_Strict):
    """Bearer tokens mapped to tenants; with no tenants configured, auth is off."""

    tenants: dict[str, TenantConfig] = {}
    #: Key that signs short-lived query tokens (EventSource cannot send headers).
    signing_key: SecretStr | None = None


def default_data_dir() -> Path:
    """The data directory: ``$TASKLOGS_DATA_DIR``, ``$XDG_DATA_HOME/tasklogs``,
    or ``~/.local/share/tasklogs``."""
    if env := os.environ.get("TASKLOGS_DATA_DIR"):
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tasklogs"


class Config(_Strict):
    data_dir: Path = Field(default_factory=default_data_dir)
    receivers: dict[str, OtlpReceiverConfig] = {"otlp": OtlpReceiverConfig()}
    exporters: dict[str, dict[str, Any]] = {"clickhouse": {}}
    service: ServiceSection = ServiceSection(
        pipelines={"logs": LogsPipeline(receivers=["otlp"], exporters=["clickhouse"])}
    )
    api: ApiConfig = ApiConfig()
    redis: RedisConfig | None = None
    auth: AuthConfig = AuthConfig()
    live_tail: LiveTailConfig = LiveTailConfig()

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


def _format_validation(
    exc: ValidationError, prefix: str = "", sources: Mapping[str, str] | None = None
) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in (*([prefix] if prefix else []), *err["loc"]))
        msg = f"{loc or '<root>'}: {err['msg']}"
        for key, var in (sources or {}).items():
            if loc == key or loc.startswith(key + ".") or key.startswith(loc + "."):
                msg += f" (set by {var})"
                break
        parts.append(msg)
    return "; ".join(parts)


def load_config(
    path: Path | None = None,
    *,
    data_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read and validate a YAML config file (or the defaults when ``path`` is None).

    ``TASKLOGS_*`` environment overrides and ``${env:...}``/``${file:...}`` secrets are
    applied first (see :mod:`collector_service.config_env`); ``environ`` defaults to
    ``os.environ``.
    """
    from collector_service.config_env import apply_env_overrides, expand_secrets

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
        raise ConfigError(f"{where}: {_format_validation(exc, sources=sources)}") from exc


def split_exporter_config(
    component_id: str, section: dict[str, Any], model: type[BaseModel]
) -> tuple[BaseModel, ExporterHelperConfig]:
    """Validate an exporter section: the wrapper's keys, and the rest against ``model``."""
    section = dict(section or {})
    helper_raw = {k: section.pop(k) for k in HELPER_KEYS if k in section}
    try:
        helper = ExporterHelperConfig.model_validate(helper_raw)
        own = model.model_validate(section)
    except ValidationError as exc:
        raise ConfigError(
            f"config: {_format_validation(exc, f'exporters.{component_id}')}"
        ) from exc
    return own, helper
