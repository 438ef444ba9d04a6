"""Status words of the read API (docs/read-api.md, "Status words") and the live overlay.

A task's status comes from its ``tasklogs.task.end`` record's
``cicd.pipeline.task.run.result``; with none it is ``running``, or ``unknown`` once no
line arrived for ``stale_after_s``. A run's status follows from its tasks'. The stores'
runs index lags the live bus by one writer batch: :func:`overlay` adds what the bus knows
(an end that is not stored yet moves the status at once).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import replace

from collector_service.component.store import TaskSummaryRow

__all__ = ["STATUSES", "overlay", "run_status", "task_status"]

STATUSES = ("running", "succeeded", "failed", "cancelled", "unknown")
_RESULTS = {
    "success": "succeeded",
    "failure": "failed",
    "error": "failed",
    "timeout": "failed",
    "cancellation": "cancelled",
    "skip": "cancelled",
}


def task_status(task: TaskSummaryRow, now_ns: int, stale_after_s: float) -> str:
    if task.end_ns is not None:
        return _RESULTS.get(task.result, "unknown")
    if now_ns - task.last_ns > stale_after_s * 1e9:
        return "unknown"
    return "running"


def run_status(statuses: Iterable[str]) -> str:
    """failed if any task failed, else running if any runs, else cancelled if any was
    cancelled, else succeeded if all succeeded, else unknown."""
    counts = Counter(statuses)
    total = sum(counts.values())
    for word in ("failed", "running", "cancelled"):
        if counts[word]:
            return word
    return "succeeded" if total and counts["succeeded"] == total else "unknown"


def overlay(task: TaskSummaryRow, live: TaskSummaryRow | None) -> TaskSummaryRow:
    """The stored summary with what the bus saw since (the owner's lines only)."""
    if live is None or live.tenant != task.tenant:
        return task
    errs = [s for s in (task.first_error_seq, live.first_error_seq) if s is not None]
    ended = live.end_ns is not None and (task.end_ns is None or live.end_ns > task.end_ns)
    return replace(
        task,
        # Each side may have missed lines the other has: both counts are lower bounds.
        last_ns=max(task.last_ns, live.last_ns),
        line_count=max(task.line_count, live.line_count),
        error_count=max(task.error_count, live.error_count),
        first_error_seq=min(errs) if errs else None,
        max_seq=max(task.max_seq, live.max_seq),
        result=live.result if ended else task.result,
        exit_code=live.exit_code if ended else task.exit_code,
        end_ns=live.end_ns if ended else task.end_ns,
    )
