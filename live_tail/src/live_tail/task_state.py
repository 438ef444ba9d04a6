"""What the live bus knows of a task run while its live stream exists: its live status.

The stores' runs index lags the bus by a writer's batch; the runs routes overlay this
state (:mod:`live_tail.index_routes`), so a task's end moves its status at once. It is
kept as a :class:`~collector_service.component.store.TaskSummaryRow`: one per chunk
(:func:`chunk_state`), merged per task run by the bus (:func:`merge`). The counts are
those the bus saw (a task that started before its live stream expired and came back
shows only what came since): the store's counts win once the store knows the task run.
"""

from __future__ import annotations

from dataclasses import replace

from collector_service.component.store import TaskSummaryRow
from live_tail.model import Chunk
from otel_sdk_ext.semconv import (
    ATTEMPT,
    LOG_IOSTREAM,
    PIPELINE_NAME,
    PROCESS_EXIT_CODE,
    SERVICE_NAME,
    TASK_RUN_RESULT,
)

__all__ = ["chunk_state", "exit_code_of", "merge"]


def exit_code_of(raw: str | None) -> int | None:
    if raw is None:
        return None
    text = raw.strip()
    digits = text[1:] if text.startswith("-") else text
    return int(text) if digits.isdigit() and len(digits) <= 18 else None


def chunk_state(chunk: Chunk) -> TaskSummaryRow:
    """The state one chunk contributes (one pass over its lines)."""
    res = chunk.resource
    first = last = chunk.lines[0].timestamp_ns if chunk.lines else 0
    errors, first_error, max_seq = 0, None, 0
    end = None
    for ln in chunk.lines:
        ts = ln.timestamp_ns
        first, last = min(first, ts), max(last, ts)
        max_seq = max(max_seq, ln.seq)
        if ln.severity_number >= 17 or ln.attributes.get(LOG_IOSTREAM) == "stderr":
            errors += 1
            first_error = ln.seq if first_error is None else min(first_error, ln.seq)
        if ln.is_end:
            end = ln
    attempt = res.get(ATTEMPT, "")
    return TaskSummaryRow(
        task_run_id=chunk.task_run_id,
        pipeline_run_id=chunk.pipeline_run_id,
        tenant=chunk.tenant,
        pipeline_name=res.get(PIPELINE_NAME, ""),
        task_name=chunk.task_name,
        service_name=res.get(SERVICE_NAME, ""),
        attempt=int(attempt) if attempt.isdigit() and len(attempt) < 10 else 0,
        first_ns=first,
        last_ns=last,
        line_count=len(chunk.lines),
        error_count=errors,
        first_error_seq=first_error,
        max_seq=max_seq,
        result=end.attributes.get(TASK_RUN_RESULT, "") if end is not None else "",
        exit_code=exit_code_of(end.attributes.get(PROCESS_EXIT_CODE)) if end else None,
        end_ns=end.timestamp_ns if end is not None else None,
    )


def merge(old: TaskSummaryRow | None, new: TaskSummaryRow) -> TaskSummaryRow:
    """``old`` with ``new``'s chunk added (owner and run stay the first chunk's)."""
    if old is None:
        return new
    errs = [s for s in (old.first_error_seq, new.first_error_seq) if s is not None]
    ended = new.end_ns is not None and (old.end_ns is None or new.end_ns >= old.end_ns)
    return replace(
        old,
        pipeline_name=old.pipeline_name or new.pipeline_name,
        task_name=old.task_name or new.task_name,
        service_name=old.service_name or new.service_name,
        attempt=max(old.attempt, new.attempt),
        first_ns=min(old.first_ns, new.first_ns),
        last_ns=max(old.last_ns, new.last_ns),
        line_count=old.line_count + new.line_count,
        error_count=old.error_count + new.error_count,
        first_error_seq=min(errs) if errs else None,
        max_seq=max(old.max_seq, new.max_seq),
        result=new.result if ended else old.result,
        exit_code=new.exit_code if ended else old.exit_code,
        end_ns=new.end_ns if ended else old.end_ns,
    )
