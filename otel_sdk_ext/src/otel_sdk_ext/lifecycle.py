"""``task``: a context manager and decorator that makes a block of Python a task run.

::

    with otel_sdk_ext.task(task_run_id="build-42"):
        work()

    @otel_sdk_ext.task(task_name="nightly")
    def main() -> None: ...

On entry: :func:`~otel_sdk_ext.configure` (unless a configuration is already active and
no arguments are given) and a ``tasklogs.task.start`` record. On exit: the
``tasklogs.task.end`` record with the result and exit code, and for an uncaught
exception first an ERROR record with its traceback. ``SystemExit`` keeps its code,
``KeyboardInterrupt`` is a cancellation (130), SIGTERM a cancellation (143). Exceptions
always propagate. A configuration made here is shut down (flushed) on exit. A forked
child that leaves the block (``sys.exit`` in a worker) only flushes: no end record.
"""

from __future__ import annotations

import contextlib
import os
from types import TracebackType
from typing import Any

from otel_sdk_ext._registry import active
from otel_sdk_ext._task_logging import TaskLogging, TaskTerminated

__all__ = ["outcome_of", "task"]


def outcome_of(exc: BaseException | None) -> tuple[int, str]:  # noqa: PLR0911
    """Exit code and ``cicd.pipeline.task.run.result`` for how a task block ended."""
    if exc is None:
        return 0, "success"
    if isinstance(exc, TaskTerminated):
        return 128 + exc.signum, "cancellation"
    if isinstance(exc, SystemExit):
        code = exc.code
        if code is None:
            return 0, "success"
        if isinstance(code, int) and not isinstance(code, bool):
            return code, "success" if code == 0 else "failure"
        return 1, "failure"  # sys.exit("message") prints it and exits 1
    if isinstance(exc, KeyboardInterrupt):
        return 130, "cancellation"
    return 1, "failure"


class task(contextlib.ContextDecorator):
    """Run a block as a task run: start and end records, exception, flush."""

    def __init__(self, **configure_kwargs: Any) -> None:
        self._kwargs = configure_kwargs
        self._owned: TaskLogging | None = None
        self._logging: TaskLogging | None = None
        self._pid = 0

    def __enter__(self) -> TaskLogging:
        from otel_sdk_ext import configure

        current = active()
        if current is None or self._kwargs:
            current = configure(**self._kwargs)
            self._owned = current
        self._logging = current
        self._pid = os.getpid()
        current.emit_task_start()
        return current

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tl = self._logging
        self._logging = None
        if tl is None:
            return
        if os.getpid() != self._pid:
            # A forked child leaving the block (a worker's sys.exit): the task goes on
            # in the parent. Only send what the child logged.
            tl.shutdown()
            return
        exit_code, result = outcome_of(exc)
        if exc is not None and result == "failure" and not isinstance(exc, SystemExit):
            tl.emit_exception(exc)
        tl.emit_task_end(exit_code, result)
        owned, self._owned = self._owned, None
        if owned is not None:
            owned.shutdown()
        else:
            tl.flush(tl.settings.flush_timeout_s)
