"""The stdlib ``logging`` handler: the raw fields of a record into the delivery buffer.

The task thread does as little as it can: the message formatted (its arguments may
change later), the level mapped, the current context taken, one tuple (``_wire.Entry``)
appended; the export thread numbers, encodes and sends it. No handler lock is taken
(the append is atomic) and OTel's own loggers are skipped before anything else (their
warnings about exporting must not come back as records to export).

A record with extra attributes (``extra=``) or an exception goes through OTel's
translation (``opentelemetry-instrumentation-logging``'s handler, this class's base:
code attributes off, ``exception.*``, ``otel.event.name``); if its attribute values are
all plain (str, int, float, bool) it still takes the tuple path, else the SDK's logger
cleans them. Unlike the base, a record logged while another is being emitted on the
same thread (a signal handler that logs) is kept: the buffer append cannot deadlock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from time import time_ns
from typing import Any, Final

from opentelemetry._logs import Logger, LogRecord
from opentelemetry.instrumentation.log_utils import std_to_otel
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider

from otel_sdk_ext._wire import current_context

__all__ = ["EXCLUDED_LOGGER_PREFIXES", "TaskLoggingHandler", "is_excluded"]

#: Records from loggers whose names start with these are never forwarded: the exporter
#: logging its own failures must not produce records that fail to export, and so on.
EXCLUDED_LOGGER_PREFIXES: Final = ("opentelemetry", "grpc", "otel_sdk_ext")

#: Attribute values the OTLP encoder takes as they are.
_PLAIN_TYPES: Final = frozenset({str, int, float, bool})

_OTEL_LEVEL_NAMES: Final = {"WARNING": "WARN", "CRITICAL": "FATAL"}

#: How many attributes a LogRecord made by ``Logger.makeRecord`` has, with no extra.
_PLAIN_RECORD_LEN: Final = len(vars(logging.LogRecord("n", logging.INFO, "p", 1, "m", None, None)))


def is_excluded(logger_name: str) -> bool:
    return logger_name.startswith(EXCLUDED_LOGGER_PREFIXES)


def _severity(levelno: int, levelname: str) -> tuple[int, str]:
    return std_to_otel(levelno).value, _OTEL_LEVEL_NAMES.get(levelname, levelname)


class TaskLoggingHandler(LoggingHandler):
    """Forwards stdlib log records to ``put`` (the delivery buffer), or the provider."""

    def __init__(
        self,
        logger_provider: LoggerProvider,
        put: Callable[[Any], None],
        level: int = logging.NOTSET,
    ) -> None:
        super().__init__(level=level, logger_provider=logger_provider)
        self._provider = logger_provider
        self._put = put
        self._otel_loggers: dict[str, Logger] = {}
        self._levels: dict[int, tuple[int, str]] = {}
        self._closed = False

    def handle(self, record: logging.LogRecord) -> Any:
        if record.name.startswith(EXCLUDED_LOGGER_PREFIXES):
            return False
        if self.filters:  # the user's own filters: the stock path (lock included)
            return super().handle(record)
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        if self._closed:
            return
        try:
            levels = self._levels.get(record.levelno)
            if levels is None:
                levels = self._levels[record.levelno] = _severity(record.levelno, record.levelname)
            if (
                record.exc_info is None
                and self.formatter is None
                and len(record.__dict__) == _PLAIN_RECORD_LEN
            ):
                msg = record.msg
                self._put(
                    (
                        record.name,
                        record.created,
                        time_ns(),
                        levels[0],
                        levels[1],
                        msg if msg.__class__ is str and not record.args else record.getMessage(),
                        None,
                        current_context(),
                        None,
                    )
                )
                return
            self._emit_translated(record, levels)
        except Exception:  # noqa: BLE001 - the logging.Handler convention
            self.handleError(record)

    def _emit_translated(self, record: logging.LogRecord, levels: tuple[int, str]) -> None:
        otel_record: LogRecord = self._translate(record)
        attrs = otel_record.attributes
        body = otel_record.body
        if body.__class__ is str and (
            not attrs or all(type(v) in _PLAIN_TYPES for v in attrs.values())
        ):
            self._put(
                (
                    record.name,
                    record.created,
                    otel_record.observed_timestamp or time_ns(),
                    levels[0],
                    levels[1],
                    body,
                    dict(attrs) if attrs else None,
                    current_context(),
                    otel_record.event_name,
                )
            )
            return
        logger = self._otel_loggers.get(record.name)
        if logger is None:
            logger = self._otel_loggers[record.name] = self._provider.get_logger(record.name)
        logger.emit(otel_record)  # odd values: the SDK cleans or drops them

    def flush(self) -> None:
        # The OTel handler starts a thread per flush to force_flush the provider; once
        # closed (logging.shutdown at interpreter exit runs after TaskLogging's own
        # shutdown) that would be useless and can fail, so it is skipped.
        if not self._closed:
            super().flush()

    def close(self) -> None:
        self._closed = True
        super().close()
