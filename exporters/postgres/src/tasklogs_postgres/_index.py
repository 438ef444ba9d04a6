"""The runs index of the PostgreSQL store: one row per task run, kept by the writer.

In the transaction of a batch's COPY the writer claims the batch's new task runs for
the tenant that writes them first (:func:`claim`), drops the records of task runs
another tenant owns (:func:`~collector_service.component.ownership.keep_owned`), and
adds the batch's per-task-run aggregates (:func:`summarize`, then :func:`update`). The
aggregates are computed column-wise per group of records sharing one resource dict
(min/max over list slices, see :func:`summarize`). SQL: ``sql/index_*.sql``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cache
from itertools import compress
from operator import methodcaller
from typing import Any

import psycopg

from collector_service.component.model import LogBatch
from collector_service.component.ownership import keep_owned, owner_claims
from collector_service.component.store import (
    RunsPage,
    RunsQuery,
    RunSummaryRow,
    TaskSummaryRow,
)
from otel_sdk_ext.semconv import (
    ATTEMPT,
    EVENT_TASK_END,
    LOG_IOSTREAM,
    PIPELINE_NAME,
    PIPELINE_RUN_ID,
    PROCESS_EXIT_CODE,
    SEQ,
    TASK_NAME,
    TASK_RUN_ID,
    TASK_RUN_RESULT,
    TENANT,
)
from tasklogs_postgres._copy import escape_nul
from tasklogs_postgres._schema import render
from tasklogs_postgres.config import PostgresConfig

__all__ = ["Delta", "IndexSql", "claim", "runs", "summarize", "tasks", "update"]

_INT64_MAX = 2**63 - 1


@dataclass(slots=True)
class Delta:
    """One batch's contribution to one task run of one tenant."""

    task_run_id: str
    tenant: str
    pipeline_run_id: str
    pipeline_name: str
    task_name: str
    service_name: str
    attempt: int
    first_ns: int
    last_ns: int
    line_count: int = 0
    error_count: int = 0
    first_error_seq: int | None = None
    max_seq: int = 0
    result: str = ""
    exit_code: int | None = None
    end_ns: int | None = None


def _int(raw: str | None, default: int = 0) -> int:
    if raw is None or not raw.isdigit() or len(raw) > 18:
        return default
    return int(raw)


def _code(raw: str | None) -> int | None:
    if raw is None:
        return None
    text = raw.strip()
    digits = text[1:] if text.startswith("-") else text
    return int(text) if digits.isdigit() and len(digits) <= 18 else None


def summarize(batch: LogBatch) -> dict[tuple[str, str], Delta]:
    """Per (task run id, tenant): the batch's aggregates (records with no task run id
    belong to no task run).

    Column-wise: the rows are grouped by their resource dict (one stable sort of row
    positions by the dict's id), the needed columns reordered once by C-level ``map``,
    and each group's aggregates taken as min/max over one contiguous slice. Seqs are
    parsed in one pass when they are all plain digits; error flags are computed only
    when the batch holds an error line.
    """
    out: dict[tuple[str, str], Delta] = {}
    n = len(batch)
    if not n:
        return out
    res_col = batch.resource_attributes
    ids = list(map(id, res_col))
    objects = dict(zip(ids, res_col, strict=True))  # in order of first appearance
    order = sorted(range(n), key=ids.__getitem__)  # stable: a group keeps row order
    counts = Counter(ids)
    starts: dict[int, int] = {}
    pos = 0
    for k in sorted(counts):
        starts[k] = pos
        pos += counts[k]
    attrs = batch.log_attributes
    ts = list(map(batch.timestamp.__getitem__, order))
    seqs = list(map(_seqs(attrs).__getitem__, order))
    errors = _error_flags(batch)
    err = None if errors is None else list(map(errors.__getitem__, order))
    for k, res in objects.items():
        tid = res.get(TASK_RUN_ID, "")
        if not tid:
            continue
        a = starts[k]
        b = a + counts[k]
        key = (tid, res.get(TENANT, ""))
        g_ts = ts[a:b]
        d = out.get(key)
        if d is None:
            d = out[key] = Delta(
                task_run_id=tid,
                tenant=key[1],
                pipeline_run_id=res.get(PIPELINE_RUN_ID, ""),
                pipeline_name=res.get(PIPELINE_NAME, ""),
                task_name=res.get(TASK_NAME, ""),
                service_name=batch.service_name[order[a]],
                attempt=_int(res.get(ATTEMPT)),
                first_ns=min(g_ts),
                last_ns=max(g_ts),
            )
        else:
            lo, hi = min(g_ts), max(g_ts)
            d.first_ns, d.last_ns = min(d.first_ns, lo), max(d.last_ns, hi)
        d.line_count += b - a
        g_seqs = seqs[a:b]
        top = max(g_seqs)
        d.max_seq = max(d.max_seq, top)
        if err is not None:
            bad = list(compress(g_seqs, err[a:b]))
            if bad:
                d.error_count += len(bad)
                low = min(bad)
                d.first_error_seq = (
                    low if d.first_error_seq is None else min(d.first_error_seq, low)
                )
    if EVENT_TASK_END in batch.event_name:
        _task_ends(batch, out)
    return out


_GET_SEQ = methodcaller("get", SEQ)
_GET_IOSTREAM = methodcaller("get", LOG_IOSTREAM)


def _seqs(attrs: list[dict[str, str]]) -> list[int]:
    """Each record's seq (``_int`` of ``tasklogs.seq``), in one pass when all are digits."""
    raw = list(map(_GET_SEQ, attrs))
    if None not in raw:
        joined = "".join(raw)
        lengths = list(map(len, raw))
        if joined.isascii() and joined.isdigit() and min(lengths) >= 1 and max(lengths) <= 18:
            return list(map(int, raw))
    return [_int(r) for r in raw]


def _error_flags(batch: LogBatch) -> list[bool] | None:
    """Per record: an error line (severity >= 17 or stderr)? ``None``: the batch has none."""
    streams = list(map(_GET_IOSTREAM, batch.log_attributes))
    if max(batch.severity_number) < 17 and "stderr" not in streams:
        return None
    return [
        number >= 17 or stream == "stderr"
        for number, stream in zip(batch.severity_number, streams, strict=True)
    ]


def _task_ends(batch: LogBatch, out: dict[tuple[str, str], Delta]) -> None:
    """The task-end records (a few per batch at most): result, exit code, end time."""
    res_col, ts, attrs = batch.resource_attributes, batch.timestamp, batch.log_attributes
    for i, name in enumerate(batch.event_name):
        if name != EVENT_TASK_END:
            continue
        res = res_col[i]
        d = out.get((res.get(TASK_RUN_ID, ""), res.get(TENANT, "")))
        if d is not None and (d.end_ns is None or ts[i] >= d.end_ns):
            d.end_ns = ts[i]
            d.result = attrs[i].get(TASK_RUN_RESULT, "")
            d.exit_code = _code(attrs[i].get(PROCESS_EXIT_CODE))


@dataclass(frozen=True, slots=True)
class IndexSql:
    schema: str
    table: str

    @classmethod
    def of(cls, config: PostgresConfig) -> IndexSql:
        return cls(config.db_schema, config.table)

    def text(self, name: str) -> bytes:
        return _rendered(name, self.schema, self.table)


@cache
def _rendered(name: str, schema: str, table: str) -> bytes:
    return render(f"{name}.sql", schema=schema, table=table).encode()


def _s(text: str) -> str:
    return escape_nul(text)


def claim(conn: psycopg.Connection[Any], q: IndexSql, batch: LogBatch) -> LogBatch:
    """Claim the batch's new task runs (first writer) and drop what another tenant owns;
    the batch's aggregates are then added by :func:`update`, in the same transaction."""
    claims = owner_claims(batch)
    if not claims:
        return batch
    ids = sorted(claims)
    escaped = [_s(i) for i in ids]
    conn.execute(
        q.text("index_claim"), {"ids": escaped, "tenants": [_s(claims[i][0]) for i in ids]}
    )
    rows = conn.execute(q.text("index_owners"), {"ids": escaped}).fetchall()
    stored = {str(tid): str(tenant) for tid, tenant in rows}
    owners: dict[str, str] = {}
    for tid, key in zip(ids, escaped, strict=True):
        owner = stored.get(key)
        # Stored text is NUL-escaped: the claimant whose escaped tenant is the owner.
        owners[tid] = next((t for t in claims[tid] if _s(t) == owner), "\x00refused")
    return keep_owned(batch, claims, owners, store="postgres")


def update(conn: psycopg.Connection[Any], q: IndexSql, batch: LogBatch) -> None:
    """Add ``batch``'s (owned records') aggregates to its task runs' index rows."""
    deltas = list(summarize(batch).values())
    if not deltas:
        return
    conn.execute(
        q.text("index_update"),
        {
            "ids": [_s(d.task_run_id) for d in deltas],
            "runs": [_s(d.pipeline_run_id) for d in deltas],
            "pipelines": [_s(d.pipeline_name) for d in deltas],
            "names": [_s(d.task_name) for d in deltas],
            "services": [_s(d.service_name) for d in deltas],
            "attempts": [min(d.attempt, 2**31 - 1) for d in deltas],
            "firsts": [d.first_ns for d in deltas],
            "lasts": [d.last_ns for d in deltas],
            "lines": [d.line_count for d in deltas],
            "errors": [d.error_count for d in deltas],
            "first_errors": [d.first_error_seq for d in deltas],
            "max_seqs": [min(d.max_seq, _INT64_MAX) for d in deltas],
            "results": [_s(d.result) for d in deltas],
            "exit_codes": [d.exit_code for d in deltas],
            "ends": [d.end_ns for d in deltas],
        },
    )


def tasks(
    conn: psycopg.Connection[Any],
    q: IndexSql,
    *,
    task_run_id: str | None = None,
    run_id: str | None = None,
    tenant: str | None = None,
) -> list[TaskSummaryRow]:
    params = {"task_run_id": task_run_id, "run_id": run_id, "tenant": tenant}
    # An index row exists from the claim on, with its lines: none is empty.
    rows = conn.execute(q.text("index_tasks"), params).fetchall()
    return [t for t in (TaskSummaryRow.from_row(r) for r in rows) if t.line_count > 0]


def _like(text: str) -> str:
    escaped = _s(text).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def runs(conn: psycopg.Connection[Any], q: IndexSql, query: RunsQuery) -> RunsPage:
    params = {
        "tenant": query.tenant,
        "pipeline": query.pipeline,
        "since": query.since_ns,
        "until": query.until_ns,
        "after_start": query.after.start_ns if query.after else None,
        "after_run": query.after.run_id if query.after else None,
        "text": _like(query.text) if query.text is not None else None,
        "limit": query.limit,
    }
    out: dict[str, RunSummaryRow] = {}
    for r in conn.execute(q.text("index_runs"), params).fetchall():
        run = out.get(str(r[0]))
        if run is None:
            run = out[str(r[0])] = RunSummaryRow(str(r[0]), str(r[1]), [])
        run.tasks.append(TaskSummaryRow.from_row(r[3:]))
    pages = list(out.values())
    return RunsPage(pages, pages[-1].cursor if len(pages) == query.limit else None)
