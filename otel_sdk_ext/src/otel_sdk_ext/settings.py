"""Producer settings: where records go (OTLP) and how they are captured and delivered.

Everything has a default that suits a task nobody wants to think about; every value can
come from an argument or from the environment. The OTLP part follows the standard
``OTEL_EXPORTER_OTLP_*`` variables (the ``_LOGS_`` variants win over the generic ones),
so a task configured for any OpenTelemetry backend points at tasklogs unchanged.

| variable | meaning | default |
| --- | --- | --- |
| ``OTEL_EXPORTER_OTLP_[LOGS_]PROTOCOL`` | ``grpc`` or ``http/protobuf`` | ``grpc`` |
| ``OTEL_EXPORTER_OTLP_[LOGS_]ENDPOINT`` | receiver URL (1) | ``http://127.0.0.1:4317`` (2) |
| ``OTEL_EXPORTER_OTLP_[LOGS_]HEADERS`` | ``k=v,k2=v2``, URL-encoded (3) | none |
| ``OTEL_EXPORTER_OTLP_[LOGS_]COMPRESSION`` | ``gzip`` or ``none`` | none |
| ``OTEL_EXPORTER_OTLP_[LOGS_]TIMEOUT`` | seconds per export attempt | 10 |
| ``TASKLOGS_SCHEDULE_DELAY_MS`` | how long a record may wait in the process | 25 |
| ``TASKLOGS_MAX_QUEUE_SIZE`` | records buffered before new ones are dropped (counted) | 65536 |
| ``TASKLOGS_FLUSH_TIMEOUT_S`` | bound on the final flush at exit | 5 |
| ``TASKLOGS_PARTIAL_LINE_FLUSH_MS`` | idle time after which an unterminated line is sent | 500 |
| ``TASKLOGS_MAX_LINE_CHARS`` | longer lines are split or truncated | 65536 |
| ``TASKLOGS_LONG_LINES`` | ``split`` or ``truncate`` | ``split`` |
| ``TASKLOGS_CAPTURE_FDS`` | ``1``: capture file descriptors 1/2, not just sys.stdout/err | ``0`` |

(1) the generic HTTP endpoint is a base URL and gets ``/v1/logs`` appended; the
``_LOGS_`` one is used as is. (2) ``http://127.0.0.1:4318/v1/logs`` for HTTP.
(3) e.g. ``authorization=Bearer%20TOKEN`` for a bearer token.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

from opentelemetry.util.re import parse_env_headers

from otel_sdk_ext.errors import ConfigError

__all__ = ["DEFAULT_GRPC_ENDPOINT", "DEFAULT_HTTP_ENDPOINT", "Settings"]

DEFAULT_GRPC_ENDPOINT: Final = "http://127.0.0.1:4317"
DEFAULT_HTTP_ENDPOINT: Final = "http://127.0.0.1:4318/v1/logs"

Protocol = Literal["grpc", "http/protobuf"]
LongLines = Literal["split", "truncate"]

_PROTOCOLS: Final = ("grpc", "http/protobuf")
_COMPRESSIONS: Final = ("gzip", "none")


def _env(env: Mapping[str, str], *keys: str) -> str | None:
    """The first non-blank value among ``keys``."""
    for key in keys:
        value = env.get(key)
        if value is not None and value.strip():
            return value.strip()
    return None


def _otlp(env: Mapping[str, str], name: str) -> str | None:
    return _env(env, f"OTEL_EXPORTER_OTLP_LOGS_{name}", f"OTEL_EXPORTER_OTLP_{name}")


def _number(env: Mapping[str, str], key: str, kind: type[int] | type[float]) -> Any:
    raw = _env(env, key)
    if raw is None:
        return None
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"environment variable {key} must be a number, got {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    """Resolved producer settings. Build with :meth:`from_env`; validated on creation."""

    protocol: Protocol = "grpc"
    #: Full URL; for HTTP the path (``/v1/logs``) included.
    endpoint: str = DEFAULT_GRPC_ENDPOINT
    headers: Mapping[str, str] = field(default_factory=dict)
    compression: Literal["gzip", "none"] = "none"
    #: Seconds one export attempt (with the exporter's own short retries) may take.
    export_timeout_s: float = 10.0
    schedule_delay_ms: int = 25
    max_queue_size: int = 65536
    max_export_batch_size: int = 512
    flush_timeout_s: float = 5.0
    partial_line_flush_ms: int = 500
    max_line_chars: int = 65536
    long_lines: LongLines = "split"
    capture_fds: bool = False

    def __post_init__(self) -> None:
        if self.protocol not in _PROTOCOLS:
            raise ConfigError(f"protocol must be one of {_PROTOCOLS}, got {self.protocol!r}")
        if self.compression not in _COMPRESSIONS:
            raise ConfigError(
                f"compression must be one of {_COMPRESSIONS}, got {self.compression!r}"
            )
        if self.long_lines not in ("split", "truncate"):
            raise ConfigError(f"long_lines must be 'split' or 'truncate', got {self.long_lines!r}")
        for name in ("schedule_delay_ms", "max_queue_size", "max_export_batch_size"):
            _positive(name, getattr(self, name), int)
        _positive("partial_line_flush_ms", self.partial_line_flush_ms, int)
        _positive("export_timeout_s", self.export_timeout_s, float)
        if isinstance(self.flush_timeout_s, bool) or not isinstance(
            self.flush_timeout_s, int | float
        ):
            raise ConfigError(f"flush_timeout_s must be a number, got {self.flush_timeout_s!r}")
        if self.flush_timeout_s < 0:
            raise ConfigError(f"flush_timeout_s must be >= 0, got {self.flush_timeout_s}")
        if _positive("max_line_chars", self.max_line_chars, int) < 80:
            raise ConfigError(f"max_line_chars must be >= 80, got {self.max_line_chars}")
        if not self.endpoint.strip():
            raise ConfigError("endpoint must not be empty")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``environ`` (default :data:`os.environ`); non-``None`` keyword
        overrides win. ``endpoint`` given for HTTP is used as is (include ``/v1/logs``)."""
        env: Mapping[str, str] = os.environ if environ is None else environ
        given = {k: v for k, v in overrides.items() if v is not None}
        protocol = given.pop("protocol", None) or _otlp(env, "PROTOCOL") or "grpc"
        if protocol not in _PROTOCOLS:
            raise ConfigError(
                f"OTLP protocol must be one of {_PROTOCOLS}, got {protocol!r} "
                "(OTEL_EXPORTER_OTLP_PROTOCOL / OTEL_EXPORTER_OTLP_LOGS_PROTOCOL)"
            )
        values: dict[str, Any] = {
            "protocol": protocol,
            "endpoint": given.pop("endpoint", None) or _endpoint(env, protocol),
            "headers": _headers(env),
            "compression": (_otlp(env, "COMPRESSION") or "none").lower(),
        }
        timeout = _number(env, "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", float) or _number(
            env, "OTEL_EXPORTER_OTLP_TIMEOUT", float
        )
        if timeout is not None:
            # The spec says milliseconds for this variable; the Python exporters (and
            # most users) treat small values as seconds. Anything >= 1000 is ms.
            values["export_timeout_s"] = timeout / 1000 if timeout >= 1000 else timeout
        numeric: tuple[tuple[str, str, type[int] | type[float]], ...] = (
            ("schedule_delay_ms", "TASKLOGS_SCHEDULE_DELAY_MS", int),
            ("max_queue_size", "TASKLOGS_MAX_QUEUE_SIZE", int),
            ("flush_timeout_s", "TASKLOGS_FLUSH_TIMEOUT_S", float),
            ("partial_line_flush_ms", "TASKLOGS_PARTIAL_LINE_FLUSH_MS", int),
            ("max_line_chars", "TASKLOGS_MAX_LINE_CHARS", int),
        )
        for name, key, kind in numeric:
            value = _number(env, key, kind)
            if value is not None:
                values[name] = value
        long_lines = _env(env, "TASKLOGS_LONG_LINES")
        if long_lines is not None:
            values["long_lines"] = long_lines.lower()
        fds = _env(env, "TASKLOGS_CAPTURE_FDS")
        if fds is not None:
            values["capture_fds"] = fds.lower() in ("1", "true", "yes", "on")
        if "headers" in given:
            values["headers"] = {**values["headers"], **dict(given.pop("headers"))}
        values.update(given)
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        """A copy with some values changed (validated again)."""
        return replace(self, **changes)


def _positive(name: str, value: object, kind: type[int] | type[float]) -> Any:
    ok_type = isinstance(value, int | float) if kind is float else isinstance(value, int)
    if isinstance(value, bool) or not ok_type:
        raise ConfigError(f"{name} must be a positive {kind.__name__}, got {value!r}")
    assert isinstance(value, int | float)
    if value <= 0:
        raise ConfigError(f"{name} must be > 0, got {value}")
    return value


def _endpoint(env: Mapping[str, str], protocol: str) -> str:
    specific = _env(env, "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")
    if specific is not None:
        return specific
    generic = _env(env, "OTEL_EXPORTER_OTLP_ENDPOINT")
    if protocol == "grpc":
        return generic or DEFAULT_GRPC_ENDPOINT
    if generic is None:
        return DEFAULT_HTTP_ENDPOINT
    # The spec: the generic endpoint is a base URL; the signal path is appended.
    return generic.rstrip("/") + "/v1/logs"


def _headers(env: Mapping[str, str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key in ("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_LOGS_HEADERS"):
        raw = _env(env, key)
        if raw is not None:
            headers.update(parse_env_headers(raw, liberal=True))
    return headers
