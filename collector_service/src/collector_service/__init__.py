"""tasklogs collector service: OTLP receivers, the pipeline, config and the command line.

Importing this package is cheap (no gRPC, no database drivers): the producer side
imports :mod:`otel_sdk_ext.semconv` and the error tree from here.
"""

from __future__ import annotations

from collector_service.component.model import COLUMN_NAMES, LogBatch
from collector_service.errors import (
    BackpressureError,
    ConfigError,
    DecodeError,
    ExportError,
    PermanentExportError,
    RetryableExportError,
    StoreBusyError,
    StoreError,
    TasklogsError,
)

__all__ = [
    "COLUMN_NAMES",
    "BackpressureError",
    "ConfigError",
    "DecodeError",
    "ExportError",
    "LogBatch",
    "PermanentExportError",
    "RetryableExportError",
    "StoreBusyError",
    "StoreError",
    "TasklogsError",
]
