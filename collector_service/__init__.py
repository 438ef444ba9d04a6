"""tasklogs collector service: OTLP receivers, the pipeline, config and the command line.

Importing this package is cheap (no gRPC, no database drivers): the producer side
imports :mod:`collector_service.semconv` and the error tree from here.
"""

from __future__ import annotations

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
from collector_service.model import COLUMN_NAMES, LogBatch

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
