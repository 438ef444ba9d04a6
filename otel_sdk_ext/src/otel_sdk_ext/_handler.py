"""The stdlib ``logging`` handler: OTel's LoggingHandler minus OTel's own loggers.

The handler comes from ``opentelemetry-instrumentation-logging`` (the SDK's own
``LoggingHandler`` is deprecated in its favour since SDK 1.39). Its ``emit`` drops a
record logged while another is being emitted on the same thread; that is exactly what a
signal handler that logs does, so ``emit`` is redone here: our sequence processor
queues such a record right after the outer one, and OTel's own loggers (whose warnings
caused the recursion it guards against) are filtered out before ``emit``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

from opentelemetry._logs import Logger, LogRecord
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider

#: Records from loggers whose names start with these are never forwarded: the exporter
#: logging its own failures must not produce records that fail to export, and so on.
EXCLUDED_LOGGER_PREFIXES: Final = ("opentelemetry", "grpc", "otel_sdk_ext")

#: Attribute values the OTLP encoder takes as they are.
_PLAIN_TYPES: Final = frozenset({str, int, float, bool})


def is_excluded(logger_name: str) -> bool:
    return logger_name.startswith(EXCLUDED_LOGGER_PREFIXES)


def _exclude_internal_loggers(record: logging.LogRecord) -> bool:
    return not is_excluded(record.name)


class TaskLoggingHandler(LoggingHandler):
    """Forwards stdlib log records to one SDK LoggerProvider."""

    def __init__(
        self,
        logger_provider: LoggerProvider,
        level: int = logging.NOTSET,
        fast_emit: Callable[[LogRecord, str], None] | None = None,
    ) -> None:
        super().__init__(level=level, logger_provider=logger_provider)
        self._provider = logger_provider
        self._fast_emit = fast_emit
        self._otel_loggers: dict[str, Logger] = {}
        self._closed = False
        self.addFilter(_exclude_internal_loggers)

    def emit(self, record: logging.LogRecord) -> None:
        if self._closed:
            return
        try:
            otel_record = self._translate(record)
            attrs = otel_record.attributes
            if self._fast_emit is not None and (
                not attrs or all(type(v) in _PLAIN_TYPES for v in attrs.values())
            ):
                # Plain values need none of the SDK's attribute cleaning: straight to
                # the sequence stamp and the queue.
                otel_record.attributes = dict(attrs) if attrs else {}
                self._fast_emit(otel_record, record.name)
                return
            logger = self._otel_loggers.get(record.name)
            if logger is None:
                logger = self._otel_loggers[record.name] = self._provider.get_logger(record.name)
            logger.emit(otel_record)  # odd values: the SDK cleans or drops them
        except Exception:  # noqa: BLE001 - the logging.Handler convention
            self.handleError(record)

    def flush(self) -> None:
        # The OTel handler starts a thread per flush to force_flush the provider; once
        # closed (logging.shutdown at interpreter exit runs after TaskLogging's own
        # shutdown) that would be useless and can fail, so it is skipped.
        if not self._closed:
            super().flush()

    def close(self) -> None:
        self._closed = True
        super().close()
