"""The process-wide registry: the active TaskLogging and the task runs' counters.

``configure()`` replaces the active TaskLogging; a second configuration of the same
task run continues its sequence counter (starting again at 1 would make every consumer
drop the new lines as duplicates).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from opentelemetry.sdk._logs.export import LogRecordExporter

from otel_sdk_ext._exporters import build_exporter
from otel_sdk_ext._seq import SeqCounter
from otel_sdk_ext._task_logging import TaskLogging
from otel_sdk_ext.identity import TaskIdentity
from otel_sdk_ext.settings import Settings

__all__ = ["active", "shutdown", "start"]

_counters: dict[str, SeqCounter] = {}
_counters_lock = threading.Lock()


def _counter_for(task_run_id: str) -> SeqCounter:
    with _counters_lock:
        counter = _counters.get(task_run_id)
        if counter is None:
            counter = _counters[task_run_id] = SeqCounter()
        return counter


# -- the process-wide active TaskLogging ---------------------------------------------

_active: TaskLogging | None = None
_active_lock = threading.RLock()


def _forget(instance: TaskLogging) -> None:
    global _active  # noqa: PLW0603
    with _active_lock:
        if _active is instance:
            _active = None


def active() -> TaskLogging | None:
    """The TaskLogging made by the last :func:`configure`, unless shut down since."""
    return _active


def start(
    identity: TaskIdentity,
    settings: Settings,
    *,
    capture_output: bool = True,
    level: int = logging.INFO,
    handle_sigterm: bool = True,
    exporter: LogRecordExporter | None = None,
) -> TaskLogging:
    """Shut down the active TaskLogging, if any, and make ``identity``'s the active one."""
    global _active  # noqa: PLW0603
    factory: Callable[[], LogRecordExporter]
    if exporter is None:

        def factory() -> LogRecordExporter:
            return build_exporter(settings)
    else:
        injected = exporter

        def factory() -> LogRecordExporter:
            return injected

    with _active_lock:
        previous = _active
        if previous is not None:
            previous.shutdown()
        instance = TaskLogging(
            identity,
            settings,
            factory,
            counter=_counter_for(identity.task_run_id),
            capture_output=capture_output,
            level=level,
            handle_sigterm=handle_sigterm,
            on_closed=_forget,
        )
        _active = instance
        return instance


def shutdown() -> None:
    """Flush and stop the active TaskLogging, if any. Idempotent."""
    with _active_lock:
        instance = _active
    if instance is not None:
        instance.shutdown()
