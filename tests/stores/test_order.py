"""Total order, duplicates, backward pages, counts and searches, against every store.

A stock producer sends no ``tasklogs.seq`` and may give thousands of lines one
timestamp; a producer that resends a request after a crash stores its lines twice under
a new dedup token. Neither may make a read path skip, repeat or double a line.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from collector_service.component.model import LogBatch
from collector_service.component.store import (
    HistoryPage,
    HistoryQuery,
    Match,
    SearchableStore,
)
from otel_sdk_ext.semconv import PIPELINE_RUN_ID, SEQ, TASK_NAME, TASK_RUN_ID, TENANT
from tests.stores._backends import ContractStore

TS = 1_795_000_000_000_000_000


def lines(
    task_run_id: str,
    n: int,
    *,
    start: int = 0,
    seq: bool = False,
    ts: int | None = TS,
    body: str = "{task} line {i}",
    token: str | None = None,
    run: str = "run-o",
) -> LogBatch:
    """``n`` lines of one task; one shared timestamp unless ``ts`` is None (then 1 ms apart)."""
    resource = {
        TASK_RUN_ID: task_run_id,
        PIPELINE_RUN_ID: run,
        TASK_NAME: f"name-{task_run_id}",
        TENANT: "acme",
        "service.name": "svc",
    }
    b = LogBatch(token=token)
    for i in range(start, start + n):
        b.timestamp.append(TS + i * 1_000_000 if ts is None else ts)
        b.trace_id.append("")
        b.span_id.append("")
        b.trace_flags.append(0)
        b.severity_text.append("INFO")
        b.severity_number.append(9)
        b.service_name.append("svc")
        b.body.append(body.format(task=task_run_id, i=i))
        b.resource_schema_url.append("")
        b.resource_attributes.append(resource)
        b.scope_schema_url.append("")
        b.scope_name.append("s")
        b.scope_version.append("")
        b.scope_attributes.append({})
        b.log_attributes.append({SEQ: str(i + 1)} if seq else {})
        b.event_name.append("")
    return b


def forward(store: ContractStore, q: HistoryQuery) -> list[str]:
    bodies: list[str] = []
    for _ in range(10_000):
        page = store.query(q)
        bodies.extend(r.body for r in page.records)
        if page.next_cursor is None:
            return bodies
        q = replace(q, after=page.next_cursor)
    raise AssertionError("paging did not end")


def backward(store: ContractStore, q: HistoryQuery) -> list[str]:
    """From the tail (``newest``) back to the first line with ``before=prev_cursor``."""
    page: HistoryPage = store.query(replace(q, newest=True))
    chunks = [[r.body for r in page.records]]
    for _ in range(10_000):
        if page.prev_cursor is None:
            return [b for chunk in reversed(chunks) for b in chunk]
        page = store.query(replace(q, before=page.prev_cursor))
        chunks.append([r.body for r in page.records])
    raise AssertionError("paging did not end")


def searchable(store: ContractStore) -> SearchableStore:
    assert isinstance(store, SearchableStore)
    return store


def test_12000_lines_with_one_timestamp_and_no_seq_read_back_exactly(
    empty_store: ContractStore,
) -> None:
    for k, token in enumerate(["t:a", None, "t:c"]):
        empty_store.push(lines("t-same", 4000, start=k * 4000, token=token))
    q = HistoryQuery(task_run_id="t-same", limit=1000)
    got = forward(empty_store, q)
    assert len(got) == 12_000
    assert len(set(got)) == 12_000
    # Within one batch, lines that share a timestamp keep their arrival order.
    firsts = [int(b.rsplit(" ", 1)[1]) for b in got]
    for k in range(3):
        mine = [i for i in firsts if k * 4000 <= i < (k + 1) * 4000]
        assert mine == sorted(mine)
    assert backward(empty_store, q) == got
    assert searchable(empty_store).count(q) == 12_000
    run = HistoryQuery(pipeline_run_id="run-o", limit=999)
    assert sorted(forward(empty_store, run)) == sorted(got)
    assert len(backward(empty_store, run)) == 12_000


def test_a_resent_batch_reads_back_once(empty_store: ContractStore) -> None:
    """The same lines with a seq under two tokens, and the second task interleaved."""
    empty_store.push(lines("t-dup", 300, seq=True, ts=None, token="first"))
    empty_store.push(lines("t-dup", 300, seq=True, ts=None, token="resent"))
    empty_store.push(lines("t-dup", 50, start=100, seq=True, ts=None, token="partly"))
    empty_store.push(lines("t-other", 300, seq=True, ts=None, token="other"))
    want = [f"t-dup line {i}" for i in range(300)]
    for limit in (1, 7, 100, 10_000):
        q = HistoryQuery(task_run_id="t-dup", limit=limit)
        assert forward(empty_store, q) == want
        if limit < 10_000:
            assert backward(empty_store, q) == want
    run = HistoryQuery(pipeline_run_id="run-o", limit=7)
    merged = forward(empty_store, run)
    assert len(merged) == 600
    assert len(set(merged)) == 600
    assert backward(empty_store, run) == merged
    store = searchable(empty_store)
    assert store.count(HistoryQuery(task_run_id="t-dup")) == 300
    assert store.count(HistoryQuery(pipeline_run_id="run-o")) == 600
    found = store.search(HistoryQuery(task_run_id="t-dup", match=Match("line 1")), 5)
    assert found.total == 111  # 1, 10..19, 100..199
    assert [r.seq for r in found.matches] == [2, 11, 12, 13, 14]


def test_backward_pages_and_their_cursors(empty_store: ContractStore) -> None:
    empty_store.push(lines("t-back", 25, seq=True, ts=None))
    tail = empty_store.query(HistoryQuery(task_run_id="t-back", newest=True, limit=10))
    assert [r.seq for r in tail.records] == list(range(16, 26))
    assert tail.prev_cursor is not None
    assert tail.prev_cursor.seq == 16
    assert tail.next_cursor is not None
    assert tail.next_cursor.seq == 25
    page = empty_store.query(HistoryQuery(task_run_id="t-back", before=tail.prev_cursor, limit=10))
    assert [r.seq for r in page.records] == list(range(6, 16))
    assert page.prev_cursor is not None
    first = empty_store.query(HistoryQuery(task_run_id="t-back", before=page.prev_cursor))
    assert [r.seq for r in first.records] == list(range(1, 6))
    assert first.prev_cursor is None  # line 1
    exact = empty_store.query(HistoryQuery(task_run_id="t-back", newest=True, limit=25))
    assert exact.prev_cursor is None
    assert len(exact.records) == 25
    forward_page = empty_store.query(HistoryQuery(task_run_id="t-back", limit=10))
    assert forward_page.prev_cursor is None


@pytest.mark.parametrize(
    ("match", "total", "first"),
    [
        (Match("ERROR"), 2, [3, 7]),
        (Match("ERROR", case_sensitive=True), 1, [3]),
        (Match("err(or)? [0-9]+$", regex=True), 2, [3, 7]),
        (Match("^E", regex=True, case_sensitive=True), 1, [3]),
        (Match("100%_"), 1, [5]),
        (Match("nowhere"), 0, []),
    ],
)
def test_search_counts_every_match_and_returns_the_first(
    empty_store: ContractStore, match: Match, total: int, first: list[int]
) -> None:
    b = lines("t-find", 10, seq=True, ts=None, body="plain {i}")
    b.body[2] = "ERROR 3"
    b.body[6] = "an error 7"
    b.body[4] = "progress 100%_done"
    empty_store.push(b)
    found = searchable(empty_store).search(HistoryQuery(task_run_id="t-find", match=match), 5)
    assert found.total == total
    assert [r.seq for r in found.matches] == first
    none = searchable(empty_store).search(HistoryQuery(task_run_id="t-find", match=match), 0)
    assert (none.total, none.matches) == (total, [])
