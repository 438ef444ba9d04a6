"""Attribute names shared by producers, the pipeline and the stores (design.md, "Identity").

Task identity travels as OpenTelemetry resource attributes from the CI/CD semantic
conventions; tasklogs adds ``tasklogs.*`` names for what those conventions lack.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ATTEMPT",
    "DROPPED_RECORDS",
    "EVENT_TASK_END",
    "EVENT_TASK_START",
    "LOG_IOSTREAM",
    "PIPELINE_NAME",
    "PIPELINE_RUN_ID",
    "PROCESS_EXIT_CODE",
    "SEQ",
    "SERVICE_NAME",
    "TASK_NAME",
    "TASK_RUN_ID",
    "TASK_RUN_RESULT",
    "TENANT",
]

SERVICE_NAME: Final = "service.name"
PIPELINE_NAME: Final = "cicd.pipeline.name"
PIPELINE_RUN_ID: Final = "cicd.pipeline.run.id"
TASK_NAME: Final = "cicd.pipeline.task.name"
#: The task run: the unit a user tails.
TASK_RUN_ID: Final = "cicd.pipeline.task.run.id"
TASK_RUN_RESULT: Final = "cicd.pipeline.task.run.result"
#: A retry is a new task run id or a new attempt number, never a silent merge.
ATTEMPT: Final = "tasklogs.attempt"
#: Per task-run counter from 1, stamped by the producer on every record.
SEQ: Final = "tasklogs.seq"
#: Which standard stream a captured line came from (OTel semconv ``log.iostream``).
LOG_IOSTREAM: Final = "log.iostream"
PROCESS_EXIT_CODE: Final = "process.exit.code"
#: The tenant a record belongs to: stamped by the receiver on every record's resource
#: (from the bearer token), never trusted from the producer.
TENANT: Final = "tasklogs.tenant"

#: On the task end record: records the producer dropped (queue full), never silent.
DROPPED_RECORDS: Final = "tasklogs.dropped_records"

EVENT_TASK_START: Final = "tasklogs.task.start"
EVENT_TASK_END: Final = "tasklogs.task.end"
