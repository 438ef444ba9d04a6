"""History queries: :class:`HistoryQuery` to one parameterized ClickHouse statement.

Every filter of the contract (collector_service/store.py) is a fixed SQL fragment over
column expressions that the exporter learned from the table (real columns on a tasklogs
table, map lookups on a contrib one); every value the caller gave travels as a
server-side query parameter (``{name:Type}``), never as SQL text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from collector_service.component.store import Cursor, HistoryPage, HistoryQuery, StoredLog
from otel_sdk_ext.semconv import TASK_NAME, TENANT
from tasklogs_clickhouse._sql import render

__all__ = ["Columns", "build", "page_from_rows"]


@dataclass(frozen=True, slots=True)
class Columns:
    """SQL expressions for what the contract filters and orders by, per table shape."""

    task_run: str = "TaskRunId"
    pipeline_run: str = "PipelineRunId"
    seq: str = "Seq"
    event_name: str = "EventName"
    observed: str = "toUnixTimestamp64Nano(ObservedTimestamp)"
    dropped: str = "DroppedAttributesCount"

    @classmethod
    def for_table(cls, present: set[str]) -> Columns:
        """Materialized columns where the table has them, else what they materialize."""
        return cls(
            task_run="TaskRunId"
            if "TaskRunId" in present
            else "ResourceAttributes['cicd.pipeline.task.run.id']",
            pipeline_run="PipelineRunId"
            if "PipelineRunId" in present
            else "ResourceAttributes['cicd.pipeline.run.id']",
            seq="Seq" if "Seq" in present else "toUInt64OrZero(LogAttributes['tasklogs.seq'])",
            event_name="EventName" if "EventName" in present else "''",
            observed="toUnixTimestamp64Nano(ObservedTimestamp)"
            if "ObservedTimestamp" in present
            else "0",
            dropped="DroppedAttributesCount" if "DroppedAttributesCount" in present else "0",
        )


def _filters(q: HistoryQuery, cols: Columns, params: dict[str, Any]) -> list[str]:
    where: list[str] = []
    if q.task_run_id is not None:
        where.append(f"{cols.task_run} = {{task_run_id:String}}")
        params["task_run_id"] = q.task_run_id
    else:
        where.append(f"{cols.pipeline_run} = {{pipeline_run_id:String}}")
        params["pipeline_run_id"] = q.pipeline_run_id
    if q.tenant is not None:
        where.append("ResourceAttributes[{tenant_key:String}] = {tenant:String}")
        params["tenant_key"], params["tenant"] = TENANT, q.tenant
    if q.since_ns is not None:
        where.append("Timestamp >= fromUnixTimestamp64Nano({since_ns:Int64})")
        params["since_ns"] = q.since_ns
    if q.until_ns is not None:
        where.append("Timestamp < fromUnixTimestamp64Nano({until_ns:Int64})")
        params["until_ns"] = q.until_ns
    if q.min_severity is not None:
        where.append("SeverityNumber >= {min_severity:UInt8}")
        params["min_severity"] = q.min_severity
    if q.text is not None:
        # A plain substring search: no LIKE pattern, so % and _ are literal.
        where.append("positionCaseInsensitiveUTF8(Body, {text:String}) > 0")
        params["text"] = q.text
    if q.include is not None:
        where.append("match(Body, {include:String})")
        params["include"] = q.include
    if q.exclude is not None:
        where.append("NOT match(Body, {exclude:String})")
        params["exclude"] = q.exclude
    for i, (key, value) in enumerate(sorted(q.attributes.items())):
        k, v = f"{{attr_key_{i}:String}}", f"{{attr_value_{i}:String}}"
        where.append(
            f"if(mapContains(LogAttributes, {k}), LogAttributes[{k}] = {v}, "
            f"mapContains(ResourceAttributes, {k}) AND ResourceAttributes[{k}] = {v})"
        )
        params[f"attr_key_{i}"], params[f"attr_value_{i}"] = key, value
    if q.task_name is not None:
        where.append("ResourceAttributes[{task_name_key:String}] = {task_name:String}")
        params["task_name_key"], params["task_name"] = TASK_NAME, q.task_name
    if q.after is not None:
        where.append(_after(q, cols, q.after, params))
    return where


def _after(q: HistoryQuery, cols: Columns, after: Cursor, params: dict[str, Any]) -> str:
    params["after_seq"], params["after_ts"] = after.seq, after.timestamp_ns
    ts = "fromUnixTimestamp64Nano({after_ts:Int64})"
    if q.by_task:
        # ``seq >= x`` alone first: the primary key (TaskRunId, Seq, Timestamp) can use it.
        return (
            f"{cols.seq} >= {{after_seq:UInt64}} "
            f"AND ({cols.seq}, Timestamp) > ({{after_seq:UInt64}}, {ts})"
        )
    params["after_task_run"] = after.task_run_id
    return (
        f"Timestamp >= {ts} AND (Timestamp, {cols.task_run}, {cols.seq}) > "
        f"({ts}, {{after_task_run:String}}, {{after_seq:UInt64}})"
    )


def build(q: HistoryQuery, cols: Columns, table: str) -> tuple[str, dict[str, Any]]:
    """The statement and its parameters for one page of ``q``."""
    params: dict[str, Any] = {"limit": q.limit}
    where = "\n  AND ".join(_filters(q, cols, params))
    order = ["seq", "Timestamp"] if q.by_task else ["Timestamp", "task_run", "seq"]
    exprs = {"table": table, "where": where, **_exprs(cols)}
    if not q.newest:
        return render("history", order=", ".join(order), **exprs), params
    inner = render("history", order=", ".join(f"{o} DESC" for o in order), **exprs)
    outer = ", ".join("ts_ns" if o == "Timestamp" else o for o in order)
    return render("history_newest", inner=inner, order=outer), params


def _exprs(cols: Columns) -> dict[str, str]:
    return {
        "task_run": cols.task_run,
        "seq": cols.seq,
        "event_name": cols.event_name,
        "observed": cols.observed,
        "dropped": cols.dropped,
    }


def page_from_rows(q: HistoryQuery, rows: Sequence[Sequence[Any]]) -> HistoryPage:
    """Rows of :func:`build`'s statement as a page with the contract's ``next_cursor``."""
    records = [
        StoredLog(
            timestamp_ns=int(r[0]),
            seq=int(r[1]),
            severity_text=str(r[3]),
            severity_number=int(r[4]),
            body=str(r[5]),
            service_name=str(r[6]),
            trace_id=str(r[7]),
            span_id=str(r[8]),
            event_name=str(r[9]),
            scope_name=str(r[10]),
            resource_attributes=dict(r[11]),
            log_attributes=dict(r[12]),
            observed_timestamp_ns=int(r[13]),
            dropped_attributes_count=int(r[14]),
        )
        for r in rows
    ]
    if q.newest:
        return HistoryPage(records, records[-1].cursor if records else q.after)
    return HistoryPage(records, records[-1].cursor if len(records) == q.limit else None)
