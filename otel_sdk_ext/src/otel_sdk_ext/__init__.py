"""tasklogs producer side: send a task's logs over OTLP with the task's identity.

One call wires everything::

    import otel_sdk_ext
    otel_sdk_ext.configure(task_run_id="build-42")   # or TASKLOGS_TASK_RUN_ID=build-42
    logging.getLogger(__name__).info("hello")          # a record, with identity and seq
    print("captured too")                              # stdout/stderr lines are records

or, with start/end records and the traceback of an uncaught exception::

    with otel_sdk_ext.task(task_run_id="build-42"):
        ...

Every record carries the identity as resource attributes and a ``tasklogs.seq`` counter
from 1 (shared with forked children); at exit pending lines are flushed, the streams
restored and the exporter flushed within ``flush_timeout_s``. For tasks in any
language, ``tasklogs run -- CMD`` uses :func:`otel_sdk_ext.run.run_command`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from opentelemetry.sdk._logs.export import LogRecordExporter

from otel_sdk_ext._registry import shutdown, start
from otel_sdk_ext._task_logging import TaskLogging, TaskTerminated
from otel_sdk_ext.identity import TaskIdentity
from otel_sdk_ext.lifecycle import task
from otel_sdk_ext.run import run_command
from otel_sdk_ext.settings import Settings

__all__ = [
    "Settings",
    "TaskIdentity",
    "TaskLogging",
    "TaskTerminated",
    "configure",
    "run_command",
    "shutdown",
    "task",
]


def configure(
    *,
    task_run_id: str | None = None,
    pipeline_run_id: str | None = None,
    task_name: str | None = None,
    pipeline_name: str | None = None,
    service_name: str | None = None,
    attempt: int | None = None,
    endpoint: str | None = None,
    protocol: str | None = None,
    headers: Mapping[str, str] | None = None,
    compression: str | None = None,
    capture_output: bool = True,
    capture_fds: bool | None = None,
    level: int = logging.INFO,
    schedule_delay_ms: int | None = None,
    max_queue_size: int | None = None,
    flush_timeout_s: float | None = None,
    partial_line_flush_ms: int | None = None,
    max_line_chars: int | None = None,
    long_lines: str | None = None,
    handle_sigterm: bool = True,
    _exporter: LogRecordExporter | None = None,
) -> TaskLogging:
    """Send this process's logs to tasklogs over OTLP; returns the handle.

    Identity: explicit arguments win, else ``TASKLOGS_TASK_RUN_ID``,
    ``TASKLOGS_PIPELINE_RUN_ID``, ``TASKLOGS_TASK_NAME``, ``TASKLOGS_PIPELINE_NAME``,
    ``TASKLOGS_ATTEMPT``, ``OTEL_SERVICE_NAME``, then ``OTEL_RESOURCE_ATTRIBUTES``; a
    task run id is required (:class:`~otel_sdk_ext.errors.ConfigError` otherwise).

    Transport and delivery: see :class:`Settings` (arguments win over the standard
    ``OTEL_EXPORTER_OTLP_*`` and the ``TASKLOGS_*`` variables). The root logger gets a
    handler and the level ``level``; with ``capture_output`` sys.stdout and sys.stderr
    are teed; with ``capture_fds`` file descriptors 1 and 2 are captured instead (C
    extensions, child processes). ``handle_sigterm`` turns SIGTERM into
    :class:`TaskTerminated` when no other handler is set, so the exit flush runs. A
    previous configuration is shut down first. ``_exporter`` replaces the OTLP exporter
    (tests).
    """
    identity = TaskIdentity.from_env(
        task_run_id=task_run_id,
        pipeline_run_id=pipeline_run_id,
        task_name=task_name,
        pipeline_name=pipeline_name,
        service_name=service_name,
        attempt=attempt,
    )
    settings = Settings.from_env(
        endpoint=endpoint,
        protocol=protocol,
        headers=headers,
        compression=compression,
        capture_fds=capture_fds,
        schedule_delay_ms=schedule_delay_ms,
        max_queue_size=max_queue_size,
        flush_timeout_s=flush_timeout_s,
        partial_line_flush_ms=partial_line_flush_ms,
        max_line_chars=max_line_chars,
        long_lines=long_lines,
    )
    return start(
        identity,
        settings,
        capture_output=capture_output,
        level=level,
        handle_sigterm=handle_sigterm,
        exporter=_exporter,
    )
