"""``tasklogs.seq`` (1, 2, 3, ...): the shared counter, and a stamping processor.

:class:`SeqCounter` is the per task run counter. ``configure()``'s pipeline takes its
numbers in the export thread, a batch at a time, in buffer order (``_delivery``).
:class:`SequenceProcessor` is the same stamp for an SDK pipeline of one's own: it wraps
any processor; the stamp and the hand-off happen under one lock, so within a process
the order records reach the wrapped processor is exactly the order of their numbers,
whichever thread emitted them.

Forks: the counter lives in shared memory (:class:`SeqCounter`), so a forked child (a
multiprocessing worker, a gunicorn-style worker) continues the *same* per-task-run
sequence as its parent and siblings: numbers stay unique within the task run, so
consumers order and dedupe on ``(task run id, seq)`` exactly as for a single process,
and a gap still means a lost record. Once a process has forked, taking a number also
takes a POSIX record lock (``lockf``) on a shared file, which the kernel releases if its
holder dies, so a killed worker cannot wedge the others.

Re-entrancy: a record emitted on a thread that is already inside ``on_emit`` (a signal
handler that logs, or the SDK complaining about the record being emitted) is queued to a
per-thread list and stamped right after the outer record: no deadlock, no loss.
"""

from __future__ import annotations

import fcntl
import logging
import mmap
import os
import struct
import tempfile
import threading
from collections.abc import MutableMapping
from typing import Final

from opentelemetry._logs import SeverityNumber
from opentelemetry.context import Context
from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otel_sdk_ext import semconv

__all__ = ["SeqCounter", "SequenceProcessor"]

_logger = logging.getLogger(__name__)

_local = threading.local()
_COUNTER: Final = struct.Struct("=q")
#: Records emitted re-entrantly on one thread beyond this many are dropped (counted):
#: a loop that logs while logging must not grow memory without bound.
_MAX_DEFERRED: Final = 1024


class SeqCounter:
    """The last sequence number used by a task run, shared with forked children."""

    def __init__(self, last_used: int = 0) -> None:
        self._mem = mmap.mmap(-1, _COUNTER.size)  # anonymous + MAP_SHARED: fork-shared
        _COUNTER.pack_into(self._mem, 0, last_used)
        self._lock_fd: int | None = None

    @property
    def last(self) -> int:
        return int(_COUNTER.unpack_from(self._mem, 0)[0])

    def share(self) -> None:
        """Called before a fork: from now on every process takes the file lock."""
        if self._lock_fd is None:
            fd, path = tempfile.mkstemp(prefix="tasklogs-seq-")
            os.unlink(path)
            self._lock_fd = fd

    def take(self) -> int:
        """The next number. Caller holds its process's own (threading) lock."""
        return self.take_many(1)

    def take_many(self, n: int) -> int:
        """Take ``n`` consecutive numbers; returns the first. Caller holds its
        process's own (threading) lock."""
        fd = self._lock_fd
        if fd is None:
            first = int(_COUNTER.unpack_from(self._mem, 0)[0]) + 1
            _COUNTER.pack_into(self._mem, 0, first + n - 1)
            return first
        fcntl.lockf(fd, fcntl.LOCK_EX)
        try:
            first = int(_COUNTER.unpack_from(self._mem, 0)[0]) + 1
            _COUNTER.pack_into(self._mem, 0, first + n - 1)
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN)
        return first


class SequenceProcessor(LogRecordProcessor):
    """Wraps a processor; numbers records and forwards them in that order."""

    def __init__(self, wrapped: LogRecordProcessor, counter: SeqCounter | None = None) -> None:
        self._wrapped = wrapped
        self._counter = counter if counter is not None else SeqCounter()
        self._lock = threading.Lock()
        self._stopped = False
        #: Re-entrant records dropped because too many were pending on one thread.
        self.reentrant_drops = 0
        self._fork_locked = False

    @property
    def counter(self) -> SeqCounter:
        return self._counter

    @property
    def last_seq(self) -> int:
        """The last sequence number taken in this task run (any process)."""
        return self._counter.last

    def stop(self) -> None:
        """Drop every further record without consuming sequence numbers."""
        with self._lock:
            self._stopped = True

    # -- fork hooks (registered by TaskLogging) ------------------------------------------

    def before_fork(self) -> None:
        # Wait for an in-flight stamp so the child sees a settled counter, and switch to
        # the cross-process lock. A timeout (fork from inside an emission) goes on
        # without the lock rather than hanging the fork.
        self._fork_locked = self._lock.acquire(timeout=2.0)
        self._counter.share()

    def after_fork_in_parent(self) -> None:
        if self._fork_locked:
            self._fork_locked = False
            self._lock.release()

    def after_fork_in_child(self) -> None:
        # The lock was copied held (by before_fork, or by a thread the child lacks).
        self._lock = threading.Lock()
        self._fork_locked = False
        _local.__dict__.clear()

    # -- LogRecordProcessor ----------------------------------------------------------------

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        self._submit(log_record)

    def _submit(self, record: ReadWriteLogRecord) -> None:
        deferred: list[ReadWriteLogRecord] | None = getattr(_local, "deferred", None)
        if deferred is not None:  # re-entered on this thread: stamp after the outer one
            if _local.deferred_total < _MAX_DEFERRED:
                _local.deferred_total += 1
                deferred.append(record)
            else:
                self.reentrant_drops += 1
            return
        deferred = _local.deferred = []
        _local.deferred_total = 0
        try:
            with self._lock:
                if self._stopped:
                    return
                self._hand_on(record)
                while deferred:
                    self._hand_on(deferred.pop(0))
        finally:
            _local.deferred = None
        # A signal handler may have slipped one in after the loop ended: stamp it now.
        while deferred:
            self._submit(deferred.pop(0))

    def _hand_on(self, record: ReadWriteLogRecord) -> None:
        seq = self._counter.take()
        try:
            _set_attribute(record, semconv.SEQ, seq)
            self._wrapped.on_emit(record)
        except Exception:
            # Processors must not raise; a number taken and not delivered is a gap,
            # which is what consumers are told a lost record looks like.
            _logger.exception("log record processor failed; record dropped")

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
