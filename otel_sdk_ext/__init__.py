"""tasklogs producer side: send a task's logs over OTLP with the task's identity.

One call wires everything::

    import otel_sdk_ext
    otel_sdk_ext.configure(task_run_id="build-42")   # or TASKLOGS_TASK_RUN_ID=build-42
    logging.getLogger(__name__).info("hello")          # a record, with identity and seq
    print("captured too")                              # stdout/stderr lines are records

Every record carries the identity as resource attributes and a ``tasklogs.seq`` counter
from 1; at exit pending lines are flushed, the streams restored and the exporter
flushed. For tasks in any language, ``tasklogs run -- CMD`` uses
:func:`otel_sdk_ext.run.run_command`.
"""

from __future__ import annotations

import logging

from opentelemetry.sdk._logs.export import LogRecordExporter

from otel_sdk_ext._task_logging import TaskLogging, shutdown, start
from otel_sdk_ext.identity import TaskIdentity
from otel_sdk_ext.run import run_command

__all__ = ["TaskIdentity", "TaskLogging", "configure", "run_command", "shutdown"]


def configure(
    *,
    task_run_id: str | None = None,
    pipeline_run_id: str | None = None,
    task_name: str | None = None,
    pipeline_name: str | None = None,
    service_name: str | None = None,
    attempt: int | None = None,
    endpoint: str | None = None,
    capture_output: bool = True,
    level: int = logging.INFO,
    schedule_delay_ms: int = 50,
    _exporter: LogRecordExporter | None = None,
) -> TaskLogging:
    """Send this process's logs to tasklogs over OTLP/gRPC; returns the handle.

    Identity: explicit arguments win, else ``TASKLOGS_TASK_RUN_ID``,
    ``TASKLOGS_PIPELINE_RUN_ID``, ``TASKLOGS_TASK_NAME``, ``TASKLOGS_PIPELINE_NAME``,
    ``TASKLOGS_ATTEMPT``, ``OTEL_SERVICE_NAME``; a task run id is required
    (:class:`~collector_service.errors.ConfigError` otherwise).

    ``endpoint`` defaults to ``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT``, then
    ``OTEL_EXPORTER_OTLP_ENDPOINT``, then ``http://127.0.0.1:4317``. The root logger
    gets a handler and the level ``level``; with ``capture_output`` sys.stdout and
    sys.stderr are teed so every line printed is a record too. A previous
    configuration is shut down first. ``_exporter`` replaces the OTLP exporter
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
    return start(
        identity,
        endpoint=endpoint,
        capture_output=capture_output,
        level=level,
        schedule_delay_ms=schedule_delay_ms,
        exporter=_exporter,
    )
