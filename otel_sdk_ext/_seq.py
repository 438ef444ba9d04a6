"""Stamp every record with ``tasklogs.seq`` (1, 2, 3, ...) in queue order.

The stamp and the hand-off to the wrapped (batch) processor happen under one lock, so
the order records reach the export queue is exactly the order of their sequence
numbers, whichever thread emitted them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import MutableMapping

from opentelemetry._logs import SeverityNumber
from opentelemetry.context import Context
from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from collector_service import semconv
from otel_sdk_ext import _guard

_logger = logging.getLogger(__name__)

_local = threading.local()


def _in_on_emit() -> bool:
    return bool(getattr(_local, "in_on_emit", False))


class SequenceProcessor(LogRecordProcessor):
    """Wraps a processor; numbers records from 1 and forwards them in that order.

    A record emitted re-entrantly (from inside another record's emission on the same
    thread) is dropped: it could not be queued in sequence order, and it is almost
    always the SDK complaining about the very record being emitted. Such drops are
    counted in :attr:`reentrant_drops`.
    """

    def __init__(self, wrapped: LogRecordProcessor, first_seq: int = 1) -> None:
        if first_seq < 1:
            raise ValueError(f"first_seq must be >= 1, got {first_seq}")
        self._wrapped = wrapped
        self._lock = threading.Lock()
        self._next_seq = first_seq
        self._stopped = False
        self.reentrant_drops = 0

    @property
    def last_seq(self) -> int:
        """The sequence number of the last record handed on (``first_seq - 1`` before)."""
        with self._lock:
            return self._next_seq - 1

    def stop(self) -> None:
        """Drop every further record without consuming sequence numbers."""
        with self._lock:
            self._stopped = True

    def after_fork_in_child(self) -> None:
        """In a forked child: stop for good (its numbers would collide with the parent's).

        Runs single-threaded right after fork; the lock may have been copied while held
        by a thread that does not exist in the child, so it is replaced, not taken.
        """
        self._lock = threading.Lock()
        self._stopped = True

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        if _in_on_emit():
            self.reentrant_drops += 1
            return
        _local.in_on_emit = True
        _guard.enter()
        try:
            with self._lock:
                if self._stopped:
                    return
                seq = self._next_seq
                _set_attribute(log_record, semconv.SEQ, seq)
                try:
                    self._wrapped.on_emit(log_record)
                except Exception:
                    # Processors must not raise; if one does, do not leave a gap.
                    _logger.exception("log record processor failed; record dropped")
                    return
                self._next_seq = seq + 1
        finally:
            _guard.leave()
            _local.in_on_emit = False

    def enabled(
        self,
        *,
        context: Context | None = None,
        instrumentation_scope: InstrumentationScope | None = None,
        severity_number: SeverityNumber | None = None,
        event_name: str | None = None,
    ) -> bool:
        return self._wrapped.enabled(
            context=context,
            instrumentation_scope=instrumentation_scope,
            severity_number=severity_number,
            event_name=event_name,
        )

    def shutdown(self) -> None:
        self.stop()
        self._wrapped.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._wrapped.force_flush(timeout_millis)


def _set_attribute(log_record: ReadWriteLogRecord, key: str, value: int) -> None:
    """Set one attribute on a record, whatever mapping the SDK gave it."""
    record = log_record.log_record
    attrs = record.attributes
    # SDK 1.45: ReadWriteLogRecord.__post_init__ wraps attributes in a mutable
    # BoundedAttributes; anything else is copied into a plain dict.
    if isinstance(attrs, MutableMapping):
        attrs[key] = value
        return
    new_attrs = dict(attrs) if attrs else {}
    new_attrs[key] = value
    record.attributes = new_attrs
