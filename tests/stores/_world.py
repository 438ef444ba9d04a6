"""The data set of the store contract suite, and a reference implementation of the contract.

Every contract test asks a real store and this reference the same question and compares
the answers, so the semantics in ``collector_service/store.py`` are pinned down in one
place for every backend.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field, replace

from collector_service.component.model import LogBatch
from collector_service.component.store import Cursor, HistoryPage, HistoryQuery
from otel_sdk_ext.semconv import (
    PIPELINE_RUN_ID,
    SEQ,
    SERVICE_NAME,
    TASK_NAME,
    TASK_RUN_ID,
    TENANT,
)

__all__ = ["BASE_NS", "WORLD", "Row", "keys", "plain", "reference", "world_batches"]

BASE_NS = 1_795_000_000_000_000_000


@dataclass(frozen=True, slots=True)
class Row:
    task_run_id: str
    pipeline_run_id: str
    tenant: str
    task_name: str
    seq: int
    timestamp_ns: int
    severity_number: int
    severity_text: str
    body: str
    resource: dict[str, str] = field(hash=False)
    log_attributes: dict[str, str] = field(hash=False)

    @property
    def key(self) -> tuple[str, int]:
        return (self.task_run_id, self.seq)

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.seq, self.timestamp_ns, self.task_run_id)


def _severity(seq: int) -> tuple[int, str]:
    if seq % 5 == 0:
        return 17, "ERROR"
    if seq % 3 == 0:
        return 13, "WARN"
    return 9, "INFO"


_SPECIAL_BODIES = {
    7: "Connection REFUSED by db-1:5432",
    8: "progress 100%_done",
    9: "unicode ✓ ünïcödé 日本語",
    11: "a\ttab and a 'quote' and a \"double\" and a \\ backslash",
}


def _task(
    task_run_id: str,
    *,
    pipeline_run_id: str,
    tenant: str,
    task_name: str,
    n: int,
    offset_ns: int,
    extra_resource: dict[str, str] | None = None,
    tie_every: int = 0,
) -> list[Row]:
    resource = {
        SERVICE_NAME: f"svc-{task_name}",
        PIPELINE_RUN_ID: pipeline_run_id,
        TASK_RUN_ID: task_run_id,
        TASK_NAME: task_name,
        TENANT: tenant,
        **(extra_resource or {}),
    }
    rows = []
    for seq in range(1, n + 1):
        number, text = _severity(seq)
        attrs = {SEQ: str(seq), "log.iostream": "stdout" if seq % 2 == 0 else "stderr"}
        if seq <= 10:
            attrs["step"] = "compile"
        if seq == 12:
            attrs["host.name"] = "overridden"  # a log attribute shadows the resource one
        body = _SPECIAL_BODIES.get(seq, f"{task_run_id} line {seq} done")
        rows.append(
            Row(
                task_run_id=task_run_id,
                pipeline_run_id=pipeline_run_id,
                tenant=tenant,
                task_name=task_name,
                seq=seq,
                timestamp_ns=BASE_NS
                + seq * 1_000_000
                + (0 if tie_every and seq % tie_every == 0 else offset_ns),
                severity_number=number,
                severity_text=text,
                body=body,
                resource=resource,
                log_attributes=attrs,
            )
        )
    return rows


#: Two tenants, two pipeline runs, three task runs. tA2 shares timestamps with tA1 at
#: every tenth line (offset 0 there), so the pipeline-run order needs its tie-breakers.
WORLD: list[Row] = [
    *_task("tA1", pipeline_run_id="run-A", tenant="acme", task_name="build", n=50, offset_ns=0),
    *_task(
        "tA2",
        pipeline_run_id="run-A",
        tenant="acme",
        task_name="test",
        n=30,
        offset_ns=500_000,
        extra_resource={"host.name": "h1"},
        tie_every=10,
    ),
    *_task("tB1", pipeline_run_id="run-B", tenant="globex", task_name="build", n=20, offset_ns=0),
]


def world_batches(rows: list[Row] = WORLD, parts: int = 4, seed: int = 7) -> list[LogBatch]:
    """The rows in ``parts`` batches, shuffled: stores must order by content, not arrival."""
    shuffled = rows[:]
    random.Random(seed).shuffle(shuffled)  # noqa: S311 - a fixed test order
    batches = [LogBatch() for _ in range(parts)]
    for i, r in enumerate(shuffled):
        b = batches[i % parts]
        b.timestamp.append(r.timestamp_ns)
        b.trace_id.append("0102030405060708090a0b0c0d0e0f10" if r.seq == 1 else "")
        b.span_id.append("0102030405060708" if r.seq == 1 else "")
        b.trace_flags.append(1 if r.seq == 1 else 0)
        b.severity_text.append(r.severity_text)
        b.severity_number.append(r.severity_number)
        b.service_name.append(r.resource[SERVICE_NAME])
        b.body.append(r.body)
        b.resource_schema_url.append("")
        b.resource_attributes.append(r.resource)
        b.scope_schema_url.append("")
        b.scope_name.append("tasklogs.stdout")
        b.scope_version.append("")
        b.scope_attributes.append({})
        b.log_attributes.append(r.log_attributes)
        b.event_name.append("")
    return batches


def _matches(r: Row, q: HistoryQuery) -> bool:
    checks = [
        q.task_run_id is None or r.task_run_id == q.task_run_id,
        q.pipeline_run_id is None or r.pipeline_run_id == q.pipeline_run_id,
        q.tenant is None or r.tenant == q.tenant,
        q.since_ns is None or r.timestamp_ns >= q.since_ns,
        q.until_ns is None or r.timestamp_ns < q.until_ns,
        q.min_severity is None or r.severity_number >= q.min_severity,
        q.text is None or q.text.lower() in r.body.lower(),
        q.include is None or re.search(q.include, r.body) is not None,
        q.exclude is None or re.search(q.exclude, r.body) is None,
        q.task_name is None or r.task_name == q.task_name,
        not q.task_names or r.task_name in q.task_names,
    ]
    for key, value in q.attributes.items():
        actual = r.log_attributes.get(key, r.resource.get(key))
        checks.append(actual == value)
    return all(checks)


def reference(q: HistoryQuery, rows: list[Row] = WORLD) -> tuple[list[Row], Cursor | None]:
    """What a store must answer to ``q``: the page's rows and its ``next_cursor``."""

    def key(r: Row) -> tuple[int, int, str] | tuple[int, str, int]:
        if q.by_task:
            return (r.seq, r.timestamp_ns, r.task_run_id)
        return (r.timestamp_ns, r.task_run_id, r.seq)

    selected = sorted((r for r in rows if _matches(r, q)), key=key)
    if q.after is not None:
        selected = [r for r in selected if _beyond(q, r, q.after, 1)]
    if q.before is not None:
        selected = [r for r in selected if _beyond(q, r, q.before, -1)]
    if q.backwards:
        page = selected[-q.limit :]
        return page, (page[-1].cursor if page else q.after)
    page = selected[: q.limit]
    return page, (page[-1].cursor if len(page) == q.limit else None)


def _beyond(q: HistoryQuery, r: Row, at: Cursor, sign: int) -> bool:
    """``r`` after (sign 1) or before (-1) ``at``: the contract's order, where a line with
    a seq is placed by its seq within its task run (the world's lines all have one)."""
    if q.by_task:
        mine: tuple[int, str, int] = (0, "", r.seq)
        theirs: tuple[int, str, int] = (0, "", at.seq)
    else:
        mine = (r.timestamp_ns, r.task_run_id, r.seq)
        theirs = (at.timestamp_ns, at.task_run_id, at.seq)
    return mine > theirs if sign > 0 else mine < theirs


def plain(cursor: Cursor | None) -> Cursor | None:
    """``cursor`` without the store's line id (the reference cannot know it)."""
    return None if cursor is None else replace(cursor, line_id=0)


def keys(page: HistoryPage) -> list[tuple[str, int]]:
    return [(r.task_run_id, r.seq) for r in page.records]
