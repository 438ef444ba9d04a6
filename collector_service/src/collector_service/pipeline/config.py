"""Keys of every exporter section that the shared wrapper owns (queue, batch, retry, timeout)."""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
    Field,
    ValidationError,
)

from collector_service.component.config import StrictModel, format_validation
from collector_service.errors import ConfigError

__all__ = [
    "HELPER_KEYS",
    "BatchConfig",
    "ExporterHelperConfig",
    "QueueConfig",
    "RetryConfig",
    "split_exporter_config",
]


class QueueConfig(StrictModel):
    #: Records the exporter may hold before the receivers refuse with backpressure.
    queue_size: int = Field(default=1_000_000, ge=1)


class BatchConfig(StrictModel):
    #: Most records per ``push``; large blocks are what columnar stores want.
    send_batch_max_size: int = Field(default=65_536, ge=1)
    #: How long to wait for more records once the first one arrived.
    timeout_ms: int = Field(default=200, ge=0)


class RetryConfig(StrictModel):
    enabled: bool = True
    initial_interval_ms: int = Field(default=100, ge=1)
    max_interval_ms: int = Field(default=10_000, ge=1)
    #: Give up (count and dead-letter) after this long; never retry forever.
    max_elapsed_time_s: float = Field(default=300.0, gt=0)


class ExporterHelperConfig(StrictModel):
    """Keys of every exporter section that the shared wrapper owns."""

    sending_queue: QueueConfig = QueueConfig()
    batch: BatchConfig = BatchConfig()
    retry_on_failure: RetryConfig = RetryConfig()
    #: Upper bound on one ``push``; a push that takes longer counts as a retryable failure.
    timeout: float = Field(default=30.0, gt=0)


HELPER_KEYS = ("sending_queue", "batch", "retry_on_failure", "timeout")


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
        raise ConfigError(f"config: {format_validation(exc, f'exporters.{component_id}')}") from exc
    return own, helper
