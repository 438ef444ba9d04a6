"""Who a log line belongs to: the task identity carried as OTel resource attributes.

The identity is resolved once per process: explicit values win, then the ``TASKLOGS_*``
environment variables (and ``OTEL_SERVICE_NAME``), then the matching keys of
``OTEL_RESOURCE_ATTRIBUTES`` (``cicd.pipeline.task.run.id=...,service.name=...``), then
defaults. Other ``OTEL_RESOURCE_ATTRIBUTES`` keys reach the resource unchanged (the OTel
SDK merges them). See design.md, "Identity of a log line".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from opentelemetry.util.re import parse_env_headers

from otel_sdk_ext import semconv
from otel_sdk_ext.errors import ConfigError

__all__ = [
    "DEFAULT_SERVICE_NAME",
    "ENV_ATTEMPT",
    "ENV_PIPELINE_NAME",
    "ENV_PIPELINE_RUN_ID",
    "ENV_SERVICE_NAME",
    "ENV_TASK_NAME",
    "ENV_TASK_RUN_ID",
    "TaskIdentity",
]

ENV_TASK_RUN_ID: Final = "TASKLOGS_TASK_RUN_ID"
ENV_PIPELINE_RUN_ID: Final = "TASKLOGS_PIPELINE_RUN_ID"
ENV_TASK_NAME: Final = "TASKLOGS_TASK_NAME"
ENV_PIPELINE_NAME: Final = "TASKLOGS_PIPELINE_NAME"
ENV_ATTEMPT: Final = "TASKLOGS_ATTEMPT"
ENV_SERVICE_NAME: Final = "OTEL_SERVICE_NAME"
ENV_RESOURCE_ATTRIBUTES: Final = "OTEL_RESOURCE_ATTRIBUTES"

#: ``service.name`` when neither a service name nor a task name is known.
DEFAULT_SERVICE_NAME: Final = "tasklogs-task"


def _env_str(environ: Mapping[str, str], key: str) -> str | None:
    """An environment value, with empty or blank values treated as unset."""
    value = environ.get(key)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _check_str(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise ConfigError(f"{name} must not be empty")
    return value


def _check_attempt(value: object, source: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{source} must be an integer, got {type(value).__name__}")
    if value < 0:
        raise ConfigError(f"{source} must be >= 0, got {value}")
    return value


def _parse_attempt(raw: str) -> int:
    try:
        value = int(raw, 10)
    except ValueError:
        raise ConfigError(
            f"environment variable {ENV_ATTEMPT} must be an integer, got {raw!r}"
        ) from None
    checked = _check_attempt(value, f"environment variable {ENV_ATTEMPT}")
    assert checked is not None
    return checked


def _resource_env(environ: Mapping[str, str]) -> dict[str, str]:
    """``OTEL_RESOURCE_ATTRIBUTES`` as a dict (W3C-baggage style, URL-decoded)."""
    raw = _env_str(environ, ENV_RESOURCE_ATTRIBUTES)
    if raw is None:
        return {}
    return {k: v.strip() for k, v in parse_env_headers(raw, liberal=True).items() if v.strip()}


@dataclass(frozen=True)
class TaskIdentity:
    """The identity every record of one task run carries as resource attributes.

    ``task_run_id`` is the unit a user tails; a retry is a new task run id or a new
    ``attempt``, never a silent merge.
    """

    task_run_id: str
    pipeline_run_id: str | None = None
    task_name: str | None = None
    pipeline_name: str | None = None
    #: Empty means: the task name, else ``"tasklogs-task"``.
    service_name: str = ""
    attempt: int | None = None

    def __post_init__(self) -> None:
        if self.service_name == "":
            # frozen dataclass: derive the default once, at construction
            object.__setattr__(self, "service_name", self.task_name or DEFAULT_SERVICE_NAME)
        if _check_str("task_run_id", self.task_run_id) is None:
            raise ConfigError("task_run_id is required")
        _check_str("pipeline_run_id", self.pipeline_run_id)
        _check_str("task_name", self.task_name)
        _check_str("pipeline_name", self.pipeline_name)
        _check_str("service_name", self.service_name)
        _check_attempt(self.attempt, "attempt")

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        task_run_id: str | None = None,
        pipeline_run_id: str | None = None,
        task_name: str | None = None,
        pipeline_name: str | None = None,
        service_name: str | None = None,
        attempt: int | None = None,
    ) -> TaskIdentity:
        """Resolve the identity: explicit (non-``None``) overrides win over the environment.

        ``environ`` defaults to :data:`os.environ`. Empty environment values count as
        unset. ``service_name`` falls back to ``OTEL_SERVICE_NAME``, then to the task
        name, then to ``"tasklogs-task"``.

        Raises :class:`~otel_sdk_ext.errors.ConfigError` when no task run id is
        given (argument ``task_run_id`` or ``TASKLOGS_TASK_RUN_ID``) or a value is invalid.
        """
        env: Mapping[str, str] = os.environ if environ is None else environ
        resource = _resource_env(env)

        run_id = (
            _check_str("task_run_id", task_run_id)
            or _env_str(env, ENV_TASK_RUN_ID)
            or resource.get(semconv.TASK_RUN_ID)
        )
        if run_id is None:
            raise ConfigError(
                "a task run id is required: pass task_run_id=... or set the environment "
                f"variable {ENV_TASK_RUN_ID}"
            )
        resolved_task_name = (
            _check_str("task_name", task_name)
            or _env_str(env, ENV_TASK_NAME)
            or resource.get(semconv.TASK_NAME)
        )

        resolved_attempt = _check_attempt(attempt, "attempt")
        if resolved_attempt is None:
            raw_attempt = _env_str(env, ENV_ATTEMPT) or resource.get(semconv.ATTEMPT)
            if raw_attempt is not None:
                resolved_attempt = _parse_attempt(raw_attempt)

        resolved_service = (
            _check_str("service_name", service_name)
            or _env_str(env, ENV_SERVICE_NAME)
            or resource.get(semconv.SERVICE_NAME)
            or resolved_task_name
            or DEFAULT_SERVICE_NAME
        )
        return cls(
            task_run_id=run_id,
            pipeline_run_id=(
                _check_str("pipeline_run_id", pipeline_run_id)
                or _env_str(env, ENV_PIPELINE_RUN_ID)
                or resource.get(semconv.PIPELINE_RUN_ID)
            ),
            task_name=resolved_task_name,
            pipeline_name=(
                _check_str("pipeline_name", pipeline_name)
                or _env_str(env, ENV_PIPELINE_NAME)
                or resource.get(semconv.PIPELINE_NAME)
            ),
            service_name=resolved_service,
            attempt=resolved_attempt,
        )

    def resource_attributes(self) -> dict[str, str | int]:
        """The OTel resource attributes of this identity; unset values are omitted."""
        attrs: dict[str, str | int] = {
            semconv.SERVICE_NAME: self.service_name,
            semconv.TASK_RUN_ID: self.task_run_id,
        }
        optional: tuple[tuple[str, str | int | None], ...] = (
            (semconv.PIPELINE_NAME, self.pipeline_name),
            (semconv.PIPELINE_RUN_ID, self.pipeline_run_id),
            (semconv.TASK_NAME, self.task_name),
            (semconv.ATTEMPT, self.attempt),
        )
        for key, value in optional:
            if value is not None:
                attrs[key] = value
        return attrs
