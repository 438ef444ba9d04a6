"""Building LogBatches for the PostgreSQL store tests."""

from __future__ import annotations

from collections.abc import Sequence

from collector_service.component.model import LogBatch

__all__ = ["BASE_NS", "DAY_NS", "batch_at"]

BASE_NS = 1_795_000_000_000_000_000  # 2026-11-18T...Z
DAY_NS = 86_400 * 1_000_000_000


def batch_at(
    timestamps: Sequence[int],
    *,
    task_run_id: str = "tr-1",
    bodies: Sequence[str] | None = None,
    token: str | None = None,
) -> LogBatch:
    """One record per timestamp, seq 1..n, for one task run."""
    b = LogBatch(token=token)
    resource = {
        "service.name": "svc",
        "cicd.pipeline.run.id": "run-1",
        "cicd.pipeline.task.run.id": task_run_id,
    }
    for i, ts in enumerate(timestamps, start=1):
        b.timestamp.append(ts)
        b.trace_id.append("")
        b.span_id.append("")
        b.trace_flags.append(0)
        b.severity_text.append("INFO")
        b.severity_number.append(9)
        b.service_name.append("svc")
        b.body.append(bodies[i - 1] if bodies is not None else f"line {i}")
        b.resource_schema_url.append("")
        b.resource_attributes.append(resource)
        b.scope_schema_url.append("")
        b.scope_name.append("tasklogs.stdout")
        b.scope_version.append("")
        b.scope_attributes.append({})
        b.log_attributes.append({"tasklogs.seq": str(i)})
        b.event_name.append("")
    return b
