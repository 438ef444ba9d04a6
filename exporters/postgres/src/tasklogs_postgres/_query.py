"""The one builder of history queries: :class:`HistoryQuery` -> SQL + parameters.

Identifiers come from validated config through :class:`psycopg.sql.Identifier`; every
value from the query travels as a bound parameter. The semantics are those of
:mod:`collector_service.component.store` (the normative contract), mapped to PostgreSQL:

- time bounds are applied twice: on ``Timestamp`` (microseconds, the partition key, so
  partitions are pruned) and exactly on ``TimestampNs``;
- ``text`` is ``ILIKE`` with ``\\``, ``%`` and ``_`` escaped;
- ``include``/``exclude`` are POSIX regular expressions (``~`` / ``!~``), case-sensitive,
  where ``.`` matches a newline as in ClickHouse's ``match``;
- attribute equality is written so a GIN index on either attribute column can serve it;
- ``"LineId"`` (a sequence) breaks every tie, and a line with a seq is skipped when an
  earlier copy of its ``(task run id, seq)`` is stored (an anti-join on the task-run
  index), so pages, counts and searches see each pair once.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, LiteralString

from psycopg import sql
from psycopg.types.json import Jsonb

from collector_service.component.store import Cursor, HistoryQuery, StoredLog
from tasklogs_postgres._copy import escape_nul

__all__ = [
    "SELECT_COLUMNS",
    "RecordReader",
    "build_count_query",
    "build_history_query",
    "page_cursors",
]

SELECT_COLUMNS: tuple[str, ...] = (
    "TimestampNs",
    "Seq",
    "SeverityText",
    "SeverityNumber",
    "Body",
    "ServiceName",
    "TraceId",
    "SpanId",
    "EventName",
    "ScopeName",
    "ResourceAttributes",
    "LogAttributes",
    "LineId",
    "TraceFlags",
    "ScopeVersion",
    "ScopeAttributes",
    "ResourceSchemaUrl",
    "ScopeSchemaUrl",
    "ObservedTimestampNs",
    "DroppedAttributesCount",
)
#: Resource attributes repeat on every record of a resource: read them as text, and
#: parse each distinct text once per page.
_TEXT_COLUMNS = frozenset({"ResourceAttributes"})

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(ns: int) -> datetime | None:
    """The ``Timestamp`` value of a row with ``TimestampNs == ns``; None when unrepresentable."""
    try:
        return _EPOCH + timedelta(microseconds=ns // 1000)
    except OverflowError:
        return None


def _like_pattern(text: str) -> str:
    escaped = escape_nul(text).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class _Where:
    """Fixed clause texts ANDed together, with their bound values in order."""

    def __init__(self) -> None:
        self.clauses: list[sql.Composable] = []
        self.params: list[Any] = []

    def add(self, clause: LiteralString, *values: Any) -> None:
        self.clauses.append(sql.SQL(clause))
        self.params.extend(values)


def _selection(query: HistoryQuery, where: _Where) -> None:
    if query.task_run_id is not None:
        where.add('"TaskRunId" = %s', query.task_run_id)
    else:
        where.add('"PipelineRunId" = %s', query.pipeline_run_id)
    if query.tenant is not None:
        where.add('"Tenant" = %s', escape_nul(query.tenant))
    if query.task_name is not None:
        where.add('"TaskName" = %s', escape_nul(query.task_name))
    if query.task_names:
        where.add('"TaskName" = ANY(%s)', [escape_nul(n) for n in query.task_names])
    if query.since_ns is not None:
        since = _micros(query.since_ns)
        if since is not None:
            where.add('"Timestamp" >= %s', since)
        where.add('"TimestampNs" >= %s', query.since_ns)
    if query.until_ns is not None:
        until = _micros(query.until_ns - 1)
        if until is not None:
            where.add('"Timestamp" <= %s', until)
        where.add('"TimestampNs" < %s', query.until_ns)
    if query.min_severity is not None:
        where.add('"SeverityNumber" >= %s', query.min_severity)


def _content(query: HistoryQuery, where: _Where) -> None:
    # One task run is at most a few thousand rows, read through its own index: filtering
    # them is cheaper than intersecting with a trigram bitmap over the whole table, which
    # the planner otherwise picks for common words. `"Body" || ''` keeps the trigram index
    # out of task-run queries and leaves it to pipeline-run (and ad hoc) searches.
    if query.text is not None:
        pattern = _like_pattern(query.text)
        if query.by_task:
            where.add("(\"Body\" || '') ILIKE %s", pattern)
        else:
            where.add('"Body" ILIKE %s', pattern)
    if query.include is not None:
        if query.by_task:
            where.add("(\"Body\" || '') ~ %s", escape_nul(query.include))
        else:
            where.add('"Body" ~ %s', escape_nul(query.include))
    if query.exclude is not None:
        where.add('"Body" !~ %s', escape_nul(query.exclude))
    if query.match is not None:
        _match(query, where)
    for key, value in sorted(query.attributes.items()):
        k, v = escape_nul(key), escape_nul(value)
        pair = Jsonb({k: v})
        # The containment test lets a GIN index find candidates; COALESCE is the
        # contract (the log attribute wins when present, else the resource attribute).
        where.add(
            '("LogAttributes" @> %s OR "ResourceAttributes" @> %s)'
            ' AND COALESCE("LogAttributes" ->> %s, "ResourceAttributes" ->> %s) = %s',
            pair,
            pair,
            k,
            k,
            v,
        )


def _match(query: HistoryQuery, where: _Where) -> None:
    m = query.match
    assert m is not None
    body: LiteralString = "(\"Body\" || '')" if query.by_task else '"Body"'
    pattern = escape_nul(m.pattern)
    if m.regex:
        where.add(body + (" ~ %s" if m.case_sensitive else " ~* %s"), pattern)
    elif m.case_sensitive:
        where.add("strpos(" + body + ", %s) > 0", pattern)
    else:
        where.add(body + " ILIKE %s", _like_pattern(m.pattern))


def _bound(query: HistoryQuery, where: _Where, at: Cursor, op: LiteralString) -> None:
    """Records strictly after (``>``) or before (``<``) ``at`` in the query's order; a
    line with a seq is placed by its seq alone within its task run."""
    if query.by_task:
        if at.seq > 0:
            where.add('"Seq" ' + op + " %s", at.seq)
        else:
            where.add(
                '("Seq", "TimestampNs", "LineId") ' + op + " (0, %s, %s)",
                at.timestamp_ns,
                at.line_id,
            )
    elif at.seq > 0:
        where.add(
            '("TimestampNs", "TaskRunId", "Seq") ' + op + " (%s, %s, %s)",
            at.timestamp_ns,
            at.task_run_id,
            at.seq,
        )
    else:
        where.add(
            '("TimestampNs", "TaskRunId", "Seq", "LineId") ' + op + " (%s, %s, 0, %s)",
            at.timestamp_ns,
            at.task_run_id,
            at.line_id,
        )


def _order(query: HistoryQuery, where: _Where) -> tuple[LiteralString, ...]:
    if query.after is not None:
        _bound(query, where, query.after, ">")
    if query.before is not None:
        _bound(query, where, query.before, "<")
    if query.by_task:
        return ('"Seq"', '"TimestampNs"', '"LineId"')
    return ('"TimestampNs"', '"TaskRunId"', '"Seq"', '"LineId"')


#: A line with a seq whose (task run, seq) has an earlier stored copy is not read.
_NO_EARLIER_COPY = sql.SQL(
    'NOT (t."Seq" > 0 AND EXISTS (SELECT 1 FROM {table} AS d WHERE d."TaskRunId" = '
    't."TaskRunId" AND d."Seq" = t."Seq" AND d."Tenant" = t."Tenant" AND '
    '(d."TimestampNs", d."LineId") < (t."TimestampNs", t."LineId")))'
)


def _where(
    query: HistoryQuery, table: sql.Composable, *, dedup: bool = True
) -> tuple[_Where, tuple[LiteralString, ...]]:
    where = _Where()
    _selection(query, where)
    _content(query, where)
    order = _order(query, where)
    if dedup:
        where.clauses.append(_NO_EARLIER_COPY.format(table=table))
    return where, order


def build_history_query(
    query: HistoryQuery, table: sql.Composable
) -> tuple[sql.Composed, list[Any]]:
    """The SELECT for one page (ordered as the page will be read) and its parameters.

    A page read backwards reads the order backwards (the caller reverses the rows), one
    row more than its limit: whether more precede it.
    """
    where, order = _where(query, table)
    direction: LiteralString = " DESC" if query.backwards else ""
    stmt = sql.SQL(
        "SELECT {cols} FROM {table} AS t WHERE {where} ORDER BY {order} LIMIT %s"
    ).format(
        cols=sql.SQL(", ").join(
            sql.SQL("{}::text").format(sql.Identifier(c))
            if c in _TEXT_COLUMNS
            else sql.Identifier(c)
            for c in SELECT_COLUMNS
        ),
        table=table,
        where=sql.SQL(" AND ").join(where.clauses),
        order=sql.SQL(", ").join(sql.SQL(col + direction) for col in order),
    )
    return stmt, [*where.params, query.limit + 1 if query.backwards else query.limit]


def build_count_query(query: HistoryQuery, table: sql.Composable) -> tuple[sql.Composed, list[Any]]:
    """How many records ``query`` selects, each (task run, seq > 0) once: counted as
    distinct pairs (one sort of the selection) rather than with a probe per row."""
    where, _ = _where(query, table, dedup=False)
    pairs: LiteralString = '"Seq"' if query.by_task else '("TaskRunId", "Seq")'
    stmt = sql.SQL(
        'SELECT count(*) FILTER (WHERE "Seq" = 0)'
        " + count(DISTINCT " + pairs + ') FILTER (WHERE "Seq" > 0)'
        " FROM {table} AS t WHERE {where}"
    ).format(table=table, where=sql.SQL(" AND ").join(where.clauses))
    return stmt, where.params


def _attrs(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    if all(isinstance(v, str) for v in value.values()):
        return value
    return {str(k): v if isinstance(v, str) else str(v) for k, v in value.items()}


class RecordReader:
    """Builds :class:`StoredLog` s from the rows of one page."""

    def __init__(self) -> None:
        self._resources: dict[str, dict[str, str]] = {}

    def _resource(self, text: str) -> dict[str, str]:
        parsed = self._resources.get(text)
        if parsed is None:
            parsed = self._resources[text] = _attrs(json.loads(text))
        return dict(parsed)  # each record owns its dict

    def record(self, row: tuple[Any, ...]) -> StoredLog:
        return StoredLog(
            timestamp_ns=row[0],
            seq=row[1],
            severity_text=row[2],
            severity_number=row[3],
            body=row[4],
            service_name=row[5],
            trace_id=row[6],
            span_id=row[7],
            event_name=row[8],
            scope_name=row[9],
            resource_attributes=self._resource(row[10]),
            log_attributes=_attrs(row[11]),
            line_id=row[12],
            trace_flags=row[13],
            scope_version=row[14],
            scope_attributes=_attrs(row[15]),
            resource_schema_url=row[16],
            scope_schema_url=row[17],
            observed_timestamp_ns=row[18],
            dropped_attributes_count=row[19],
        )


def page_cursors(
    query: HistoryQuery, records: list[StoredLog]
) -> tuple[list[StoredLog], Cursor | None, Cursor | None]:
    """The page's records (ascending) with its ``next_cursor`` and ``prev_cursor`` as the
    contract defines them; ``records`` as :func:`build_history_query` read them."""
    if query.backwards:
        more = len(records) > query.limit
        records = records[: query.limit]
        records.reverse()
        prev = records[0].cursor if more and records else None
        return records, records[-1].cursor if records else query.after, prev
    nxt = records[-1].cursor if len(records) == query.limit else None
    return records, nxt, None
