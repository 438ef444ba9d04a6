"""The runs index of the PostgreSQL store: one row per task run, kept by the writer.

In the transaction of a batch's COPY the writer claims the batch's new task runs for
the tenant that writes them first (:func:`claim`), drops the records of task runs
another tenant owns (:func:`~collector_service.component.ownership.keep_owned`), and
adds the batch's per-task-run aggregates (:func:`summarize`, then :func:`update`). The
aggregates are computed per run of records sharing one resource dict (min/max over list
slices); only the error test and the seq are read per record. SQL: ``sql/index_*.sql``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
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
    belong to no task run)."""
    out: dict[tuple[str, str], Delta] = {}
    res_col = batch.resource_attributes
    n, start = len(batch), 0
    while start < n:
        res = res_col[start]
        end = start + 1
        while end < n and res_col[end] is res:
            end += 1
        tid = res.get(TASK_RUN_ID, "")
        if tid:
            _add(out, batch, res, start, end)
        start = end
    return out


def _add(
    out: dict[tuple[str, str], Delta], batch: LogBatch, res: dict[str, str], a: int, b: int
) -> None:
    key = (res.get(TASK_RUN_ID, ""), res.get(TENANT, ""))
    ts = batch.timestamp[a:b]
    d = out.get(key)
    if d is None:
        d = out[key] = Delta(
            task_run_id=key[0],
            tenant=key[1],
            pipeline_run_id=res.get(PIPELINE_RUN_ID, ""),
            pipeline_name=res.get(PIPELINE_NAME, ""),
            task_name=res.get(TASK_NAME, ""),
            service_name=batch.service_name[a],
            attempt=_int(res.get(ATTEMPT)),
            first_ns=min(ts),
            last_ns=max(ts),
        )
    else:
        d.first_ns, d.last_ns = min(d.first_ns, *ts), max(d.last_ns, *ts)
    d.line_count += b - a
    attrs, sev = batch.log_attributes[a:b], batch.severity_number[a:b]
    seqs = [_int(at.get(SEQ)) for at in attrs]
    d.max_seq = max(d.max_seq, *seqs)
    errors = [
        seq
        for number, at, seq in zip(sev, attrs, seqs, strict=True)
        if number >= 17 or at.get(LOG_IOSTREAM) == "stderr"
    ]
    if errors:
        d.error_count += len(errors)
        low = min(errors)
        d.first_error_seq = low if d.first_error_seq is None else min(d.first_error_seq, low)
    events = batch.event_name[a:b]
    if EVENT_TASK_END in events:
        for i, name in enumerate(events):
            if name == EVENT_TASK_END and (d.end_ns is None or ts[i] >= d.end_ns):
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
