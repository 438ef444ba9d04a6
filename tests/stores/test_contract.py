"""The history contract of ``collector_service/store.py``, against every store backend.

Each test asks the real store and the reference implementation (``_world.reference``) the
same question: same records, same order, same ``next_cursor``.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from collector_service.component.store import Cursor, HistoryQuery
from collector_service.errors import StoreError
from otel_sdk_ext.semconv import SEQ, SERVICE_NAME, TASK_RUN_ID, TENANT
from tests.stores._backends import ContractStore
from tests.stores._world import BASE_NS, WORLD, keys, plain, reference, world_batches

MS = 1_000_000


def check(store: ContractStore, q: HistoryQuery) -> None:
    page = store.query(q)
    rows, cursor = reference(q)
    assert keys(page) == [r.key for r in rows]
    assert plain(page.next_cursor) == cursor


def walk(store: ContractStore, q: HistoryQuery) -> list[tuple[str, int]]:
    """Every record of ``q``, page by page, following ``next_cursor``."""
    out: list[tuple[str, int]] = []
    for _ in range(1000):
        page = store.query(q)
        out.extend(keys(page))
        if page.next_cursor is None:
            return out
        q = replace(q, after=page.next_cursor)
    raise AssertionError("pagination did not end")


QUERIES = {
    "task": HistoryQuery(task_run_id="tA1"),
    "run": HistoryQuery(pipeline_run_id="run-A"),
    "unknown task": HistoryQuery(task_run_id="nope"),
    "tenant match": HistoryQuery(pipeline_run_id="run-A", tenant="acme"),
    "tenant mismatch": HistoryQuery(pipeline_run_id="run-A", tenant="globex"),
    "tenant on task": HistoryQuery(task_run_id="tB1", tenant="acme"),
    "since": HistoryQuery(task_run_id="tA1", since_ns=BASE_NS + 20 * MS),
    "until": HistoryQuery(task_run_id="tA1", until_ns=BASE_NS + 20 * MS),
    "range on run": HistoryQuery(
        pipeline_run_id="run-A", since_ns=BASE_NS + 9 * MS, until_ns=BASE_NS + 21 * MS
    ),
    "warn and up": HistoryQuery(task_run_id="tA1", min_severity=13),
    "errors": HistoryQuery(pipeline_run_id="run-A", min_severity=17),
    "text, any case": HistoryQuery(task_run_id="tA1", text="refused"),
    "text with % and _ literal": HistoryQuery(task_run_id="tA1", text="100%_"),
    "text % alone": HistoryQuery(task_run_id="tA1", text="%"),
    "text _ alone": HistoryQuery(pipeline_run_id="run-A", text="_"),
    "text non-ascii": HistoryQuery(task_run_id="tA1", text="ÜNÏ"),
    "text backslash": HistoryQuery(task_run_id="tA1", text="\\ back"),
    "include": HistoryQuery(task_run_id="tA1", include="line (1|2)[0-9] "),
    "exclude": HistoryQuery(task_run_id="tA1", exclude="^tA1 line [0-9]+ done$"),
    "include and exclude": HistoryQuery(
        pipeline_run_id="run-A", include="line [0-9]+", exclude="line [0-9]*5 "
    ),
    "log attribute": HistoryQuery(task_run_id="tA1", attributes={"log.iostream": "stderr"}),
    "two attributes": HistoryQuery(
        pipeline_run_id="run-A", attributes={"log.iostream": "stdout", "step": "compile"}
    ),
    "resource attribute": HistoryQuery(pipeline_run_id="run-A", attributes={"host.name": "h1"}),
    "log attribute shadows resource": HistoryQuery(
        pipeline_run_id="run-A", attributes={"host.name": "overridden"}
    ),
    "missing attribute": HistoryQuery(task_run_id="tA1", attributes={"nope": "x"}),
    "task name": HistoryQuery(pipeline_run_id="run-A", task_name="test"),
    "small page": HistoryQuery(task_run_id="tA1", limit=7),
    "exact page": HistoryQuery(task_run_id="tA1", limit=50),
    "after": HistoryQuery(task_run_id="tA1", after=Cursor(10, BASE_NS + 10 * MS, "tA1")),
    "after on run, at a tie": HistoryQuery(
        pipeline_run_id="run-A", after=Cursor(10, BASE_NS + 10 * MS, "tA1"), limit=3
    ),
    "newest": HistoryQuery(task_run_id="tA1", newest=True, limit=5),
    "newest, more than there is": HistoryQuery(task_run_id="tB1", newest=True, limit=500),
    "newest on run, filtered": HistoryQuery(
        pipeline_run_id="run-A", newest=True, limit=4, min_severity=17
    ),
    "newest after": HistoryQuery(
        task_run_id="tA1", newest=True, limit=5, after=Cursor(48, BASE_NS + 48 * MS, "tA1")
    ),
    "newest, nothing after": HistoryQuery(
        task_run_id="tA1", newest=True, limit=5, after=Cursor(50, BASE_NS + 50 * MS, "tA1")
    ),
    "before": HistoryQuery(task_run_id="tA1", before=Cursor(20, BASE_NS + 20 * MS, "tA1"), limit=5),
    "before, near the start": HistoryQuery(
        task_run_id="tA1", before=Cursor(3, BASE_NS + 3 * MS, "tA1"), limit=5
    ),
    "before on run, at a tie": HistoryQuery(
        pipeline_run_id="run-A", before=Cursor(10, BASE_NS + 10 * MS, "tA2"), limit=4
    ),
    "between after and before": HistoryQuery(
        task_run_id="tA1",
        after=Cursor(5, BASE_NS + 5 * MS, "tA1"),
        before=Cursor(9, BASE_NS + 9 * MS, "tA1"),
    ),
    "task names": HistoryQuery(pipeline_run_id="run-A", task_names=("test", "nope")),
    "everything at once": HistoryQuery(
        pipeline_run_id="run-A",
        tenant="acme",
        since_ns=BASE_NS + 2 * MS,
        until_ns=BASE_NS + 45 * MS,
        min_severity=9,
        text="LINE",
        exclude="line 3",
        attributes={"log.iostream": "stdout"},
        task_name="build",
        limit=5,
    ),
}


@pytest.mark.parametrize("name", QUERIES)
def test_query(world_store: ContractStore, name: str) -> None:
    check(world_store, QUERIES[name])


@pytest.mark.parametrize("limit", [1, 3, 7, 50, 100, 10_000])
@pytest.mark.parametrize("target", ["task", "run"])
def test_pages_join_into_the_whole(world_store: ContractStore, limit: int, target: str) -> None:
    q = (
        HistoryQuery(task_run_id="tA2", limit=limit)
        if target == "task"
        else HistoryQuery(pipeline_run_id="run-A", limit=limit)
    )
    whole, _ = reference(replace(q, limit=10_000))
    assert walk(world_store, q) == [r.key for r in whole]


def test_records_come_back_exactly(world_store: ContractStore) -> None:
    page = world_store.query(HistoryQuery(task_run_id="tA1", limit=20))
    by_seq = {r.seq: r for r in page.records}
    first, special = by_seq[1], by_seq[9]
    assert first.timestamp_ns == BASE_NS + 1 * MS
    assert (first.severity_text, first.severity_number) == ("INFO", 9)
    assert first.trace_id == "0102030405060708090a0b0c0d0e0f10"
    assert first.span_id == "0102030405060708"
    assert first.service_name == "svc-build"
    assert first.scope_name == "tasklogs.stdout"
    assert first.resource_attributes[TASK_RUN_ID] == "tA1"
    assert first.resource_attributes[TENANT] == "acme"
    assert first.resource_attributes[SERVICE_NAME] == "svc-build"
    assert first.log_attributes == {SEQ: "1", "log.iostream": "stderr", "step": "compile"}
    assert special.body == "unicode ✓ ünïcödé 日本語"
    assert by_seq[11].body == "a\ttab and a 'quote' and a \"double\" and a \\ backslash"
    assert (first.task_run_id, first.pipeline_run_id, first.task_name, first.tenant) == (
        "tA1",
        "run-A",
        "build",
        "acme",
    )
    assert plain(first.cursor) == Cursor(1, BASE_NS + MS, "tA1")
    assert first.line_id > 0
    assert first.trace_flags == 1


def test_cursor_round_trips_through_its_text(world_store: ContractStore) -> None:
    page = world_store.query(HistoryQuery(pipeline_run_id="run-A", limit=11))
    assert page.next_cursor is not None
    again = Cursor.decode(page.next_cursor.encode())
    assert again == page.next_cursor
    check(world_store, HistoryQuery(pipeline_run_id="run-A", after=again, limit=11))


def test_a_replayed_batch_is_stored_once(empty_store: ContractStore) -> None:
    batch = world_batches(parts=1)[0]
    batch.token = "ingest:1-0:2-0"
    empty_store.push(batch)
    empty_store.push(batch)
    other = world_batches(parts=1)[0]
    other.token = "ingest:3-0:4-0"  # same rows, another token: a different batch
    empty_store.push(other)
    # Stored twice (not three times) ...
    assert sum(p.rows for p in empty_store.retention_report().partitions) == 2 * len(WORLD)
    # ... and read once: (task run id, seq) is unique on every read.
    got = walk(empty_store, HistoryQuery(task_run_id="tB1", limit=7))
    assert got == [r.key for r in WORLD if r.task_run_id == "tB1"]


def test_retention_report_counts_what_is_stored(world_store: ContractStore) -> None:
    report = world_store.retention_report()
    assert sum(p.rows for p in report.partitions) == len(WORLD)
    assert all(p.bytes_on_disk > 0 for p in report.partitions if p.rows)
    assert report.oldest_ns == min(r.timestamp_ns for r in WORLD)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"task_run_id": "a", "pipeline_run_id": "b"},
        {"task_run_id": ""},
        {"task_run_id": "a", "limit": 0},
        {"task_run_id": "a", "limit": 10_001},
        {"task_run_id": "a", "min_severity": 25},
        {"task_run_id": "a", "since_ns": 2, "until_ns": 1},
        {"task_run_id": "a", "text": ""},
    ],
)
def test_invalid_queries_are_refused_before_any_store(kwargs: dict[str, object]) -> None:
    with pytest.raises(StoreError):
        HistoryQuery(**kwargs)  # type: ignore[arg-type]
