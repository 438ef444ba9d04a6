"""History queries: :class:`HistoryQuery` to one parameterized ClickHouse statement.

Every filter of the contract (collector_service/store.py) is a fixed SQL fragment over
column expressions that the exporter learned from the table (real columns on a tasklogs
table, map lookups on a contrib one); every value the caller gave travels as a
server-side query parameter (``{name:Type}``), never as SQL text.

Total order and duplicates: the line id (``LineId``, written by the exporter from the
batch's dedup token and the line's index) breaks every tie, and ``LIMIT 1 BY`` keeps one
copy of each ``(task run id, seq > 0)`` (and of each replayed line without a seq). On a
contrib-created table without ``LineId`` the tie-breaker is a hash of the row's content:
two lines equal in every field there count as one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from collector_service.component.store import Cursor, HistoryPage, HistoryQuery, StoredLog
from otel_sdk_ext.semconv import TASK_NAME, TENANT
from tasklogs_clickhouse._sql import render

__all__ = [
    "LINE_ID",
    "RUN_PROJECTION",
    "Columns",
    "build",
    "build_count",
    "distinct",
    "page_from_rows",
    "windowed",
]

#: The projection of a tasklogs table in pipeline-run order (see sql/create_table.sql).
RUN_PROJECTION = "by_run"
#: The tie-breaker column of a tasklogs table.
LINE_ID = "LineId"
#: The tie-breaker where the table has no ``LineId`` (a contrib-created table): a hash of
#: everything the row holds, halved so that it fits a cursor's 63 bits.
_CONTENT_HASH = (
    "intDiv(cityHash64(Timestamp, TraceId, SpanId, TraceFlags, SeverityText, "
    "SeverityNumber, ServiceName, Body, ResourceAttributes, ScopeName, ScopeAttributes, "
    "LogAttributes), 2)"
)


@dataclass(frozen=True, slots=True)
class Columns:
    """SQL expressions for what the contract filters and orders by, per table shape."""

    task_run: str = "TaskRunId"
    pipeline_run: str = "PipelineRunId"
    seq: str = "Seq"
    event_name: str = "EventName"
    line_id: str = LINE_ID
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
            line_id=LINE_ID if LINE_ID in present else _CONTENT_HASH,
            observed="toUnixTimestamp64Nano(ObservedTimestamp)"
            if "ObservedTimestamp" in present
            else "0",
            dropped="DroppedAttributesCount" if "DroppedAttributesCount" in present else "0",
        )


def _filters(q: HistoryQuery, cols: Columns, params: dict[str, Any]) -> list[str]:
    where = _selection(q, cols, params)
    where.extend(_content(q, params))
    if q.match is not None:
        where.append(_match(q, params))
    if q.after is not None:
        where.append(_bound(q, cols, q.after, params, op=">", name="after"))
    if q.before is not None:
        where.append(_bound(q, cols, q.before, params, op="<", name="before"))
    return where


def _selection(q: HistoryQuery, cols: Columns, params: dict[str, Any]) -> list[str]:
    """Which task or run, tenant, time range, task names."""
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
    if q.task_name is not None:
        where.append("ResourceAttributes[{task_name_key:String}] = {task_name:String}")
        params["task_name_key"], params["task_name"] = TASK_NAME, q.task_name
    if q.task_names:
        where.append("ResourceAttributes[{task_names_key:String}] IN {task_names:Array(String)}")
        params["task_names_key"], params["task_names"] = TASK_NAME, list(q.task_names)
    return where


def _content(q: HistoryQuery, params: dict[str, Any]) -> list[str]:
    """Severity, body text and regexes, attributes."""
    where: list[str] = []
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
    return where


def _match(q: HistoryQuery, params: dict[str, Any]) -> str:
    m = q.match
    assert m is not None
    params["match"] = m.pattern
    if m.regex:
        if m.case_sensitive:
            return "match(Body, {match:String})"
        return "match(Body, concat('(?i)', {match:String}))"  # RE2: the whole pattern
    if m.case_sensitive:
        return "position(Body, {match:String}) > 0"
    return "positionCaseInsensitiveUTF8(Body, {match:String}) > 0"


def _bound(
    q: HistoryQuery, cols: Columns, at: Cursor, params: dict[str, Any], *, op: str, name: str
) -> str:
    """Records strictly after (``>``) or before (``<``) ``at`` in the query's order.

    A line with a seq is placed by its seq alone within its task run (its copies share
    it), one without by its timestamp and line id too.
    """
    seq, ts, tid, line = (f"{name}_{p}" for p in ("seq", "ts", "task_run", "line"))
    params[seq], params[ts], params[line] = at.seq, at.timestamp_ns, at.line_id
    t = f"fromUnixTimestamp64Nano({{{ts}:Int64}})"
    s = f"{{{seq}:UInt64}}"
    if q.by_task:
        if at.seq > 0:
            return f"{cols.seq} {op} {s}"
        return f"({cols.seq}, Timestamp, {cols.line_id}) {op} ({s}, {t}, {{{line}:UInt64}})"
    params[tid] = at.task_run_id
    # ``Timestamp >= x`` alone first: the time index can use it.
    near, run = f"Timestamp {op}= {t}", f"{{{tid}:String}}"
    if at.seq > 0:
        return f"{near} AND (Timestamp, {cols.task_run}, {cols.seq}) {op} ({t}, {run}, {s})"
    return (
        f"{near} AND (Timestamp, {cols.task_run}, {cols.seq}, {cols.line_id}) {op} "
        f"({t}, {run}, {s}, {{{line}:UInt64}})"
    )


def _order(q: HistoryQuery) -> list[str]:
    if q.by_task:
        return ["seq", "Timestamp", "line_id"]
    return ["Timestamp", "task_run", "seq", "line_id"]


def _dedup(q: HistoryQuery) -> str:
    """One copy per (task run, seq > 0), and per line id among lines without a seq."""
    key = "seq, if(seq = 0, line_id, 0)"
    return key if q.by_task else f"task_run, {key}"


def windowed(q: HistoryQuery) -> bool:
    """Whether :func:`build` can bound a page of ``q`` to a seq window (see there)."""
    filtered = (
        q.since_ns is not None
        or q.until_ns is not None
        or q.task_name is not None
        or bool(q.task_names)
        or q.min_severity is not None
        or q.text is not None
        or q.include is not None
        or q.exclude is not None
        or bool(q.attributes)
        or q.match is not None
    )
    return q.by_task and not filtered and (q.before is None or q.before.seq > 0)


def _window(q: HistoryQuery, cols: Columns, table: str, params: dict[str, Any]) -> str:
    """The seq window that holds a page of an unfiltered task read when no seq is missing.

    ``LIMIT 1 BY`` (one copy per seq) makes ClickHouse read the whole task run (a million
    lines: 150-350 ms) however small the page; a range of the sort key's ``Seq`` reads a
    few granules. Forward from seq ``a``: ``Seq <= a + n``; backwards before ``b``:
    ``Seq >= b - n``, from the end: ``Seq >= max - n`` (the newest seq read from the sort
    key's end, one granule). When no seq in the window is missing the window's page is
    the page; else it holds fewer than ``n`` records and the caller reads again without
    it (:func:`windowed`, ``window=False``).
    """
    params["window"] = params["limit"]
    down = "greatest({top}, {{window:UInt64}}) - {{window:UInt64}}"
    if not q.backwards:
        params["window_from"] = q.after.seq if q.after is not None else 0
        return f"{cols.seq} <= {{window_from:UInt64}} + {{window:UInt64}}"
    if q.before is not None:
        params["window_to"] = q.before.seq
        return f"{cols.seq} >= " + down.format(top="{window_to:UInt64}")
    newest = render("history_max_seq", table=table, task_run=cols.task_run, seq=cols.seq)
    return f"{cols.seq} >= " + down.format(top=f"({newest})")


def build(
    q: HistoryQuery, cols: Columns, table: str, *, window: bool = False, plain: bool = False
) -> tuple[str, dict[str, Any]]:
    """The statement and its parameters for one page of ``q``.

    A page read backwards asks for one record more than its limit: whether more precede
    it (its ``prev_cursor``). ``window`` (where :func:`windowed`): bounded to the seq
    window of :func:`_window`; a result shorter than ``params["limit"]`` is then not
    the page, and the page is read again without it. ``plain`` (where
    :func:`windowed`): no ``LIMIT BY``, so the read along the sort key stops after the
    page's rows (no seq window, no read of the newest seq first); its rows are the page
    when no two of them are copies of one line (:func:`distinct`), else the page is read
    again with it.
    """
    params: dict[str, Any] = {"limit": q.limit + 1 if q.backwards else q.limit}
    filters = _filters(q, cols, params)
    plain = plain and windowed(q)
    if window and windowed(q) and not plain:
        filters.append(_window(q, cols, table, params))
    where = "\n  AND ".join(filters)
    order = _order(q)
    limit_by = "" if plain else f"LIMIT 1 BY {_dedup(q)}"
    exprs = {"table": table, "where": where, "limit_by": limit_by, **_exprs(cols)}
    if not q.backwards:
        return render("history", order=", ".join(order), **exprs), params
    inner = render("history", order=", ".join(f"{o} DESC" for o in order), **exprs)
    outer = ", ".join("ts_ns" if o == "Timestamp" else o for o in order)
    return render("history_newest", inner=inner, order=outer), params


def distinct(rows: Sequence[Sequence[Any]]) -> bool:
    """Whether no two rows of a ``plain`` read of one task run are copies of one line
    (the key ``LIMIT BY`` keeps one row of: seq, and the line id of lines without one)."""
    keys = {(r[1], r[13] if r[1] == 0 else 0) for r in rows}
    return len(keys) == len(rows)


def build_count(q: HistoryQuery, cols: Columns, table: str) -> tuple[str, dict[str, Any]]:
    """How many records ``q`` selects, each (task run, seq > 0) once."""
    params: dict[str, Any] = {}
    where = "\n  AND ".join(_filters(q, cols, params))
    key = f"{cols.seq}, if({cols.seq} = 0, {cols.line_id}, 0)"
    if not q.by_task:
        key = f"{cols.task_run}, {key}"
    return render("history_count", table=table, where=where, key=key), params


def _exprs(cols: Columns) -> dict[str, str]:
    return {
        "task_run": cols.task_run,
        "seq": cols.seq,
        "event_name": cols.event_name,
        "line_id": cols.line_id,
        "observed": cols.observed,
        "dropped": cols.dropped,
    }


def page_from_rows(q: HistoryQuery, rows: Sequence[Sequence[Any]]) -> HistoryPage:
    """Rows of :func:`build`'s statement as a page with the contract's cursors."""
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
            line_id=int(r[13]),
            trace_flags=int(r[14]),
            scope_version=str(r[15]),
            scope_attributes=dict(r[16]),
            resource_schema_url=str(r[17]),
            scope_schema_url=str(r[18]),
            observed_timestamp_ns=int(r[19]),
            dropped_attributes_count=int(r[20]),
        )
        for r in rows
    ]
    if q.backwards:
        more = len(records) > q.limit
        if more:
            records = records[1:]
        prev = records[0].cursor if more and records else None
        return HistoryPage(records, records[-1].cursor if records else q.after, prev)
    return HistoryPage(records, records[-1].cursor if len(records) == q.limit else None)
