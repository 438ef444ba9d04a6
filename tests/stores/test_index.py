"""The runs index of ``collector_service/store.py`` (``RunIndex``), against every store.

Summaries come from the stores' summary tables (a ClickHouse materialized view, a
PostgreSQL table kept by the writer); ownership: a task run belongs to the tenant that
first wrote it, and another tenant's records under its id are refused and counted.
"""

from __future__ import annotations

from typing import cast

import pytest

from collector_service.component.model import LogBatch
from collector_service.component.store import HistoryQuery, RunCursor, RunIndex, RunsQuery
from collector_service.errors import StoreError
from collector_service.metrics import REGISTRY
from otel_sdk_ext.semconv import (
    ATTEMPT,
    EVENT_TASK_END,
    PIPELINE_NAME,
    PIPELINE_RUN_ID,
    PROCESS_EXIT_CODE,
    SEQ,
    TASK_NAME,
    TASK_RUN_ID,
    TASK_RUN_RESULT,
    TENANT,
)
from tests.stores._backends import ContractStore

BASE = 1_795_000_000_000_000_000
SEC = 1_000_000_000


def batch(
    tid: str,
    seqs: range,
    *,
    run: str,
    tenant: str = "acme",
    pipeline: str = "nightly",
    task: str = "build",
    at: int = 0,
    errors: tuple[int, ...] = (),
    stderr: tuple[int, ...] = (),
    end: tuple[str, int] | None = None,
    attempt: int | None = None,
    token: str | None = None,
) -> LogBatch:
    """Lines ``seqs`` of one task run, ``at`` seconds after BASE (one ms apart)."""
    b = LogBatch(token=token)
    res = {
        "service.name": f"svc-{task}",
        PIPELINE_RUN_ID: run,
        PIPELINE_NAME: pipeline,
        TASK_RUN_ID: tid,
        TASK_NAME: task,
        TENANT: tenant,
    }
    if attempt is not None:
        res[ATTEMPT] = str(attempt)
    last = seqs[-1] if len(seqs) else None
    for seq in seqs:
        attrs = {SEQ: str(seq), "log.iostream": "stderr" if seq in stderr else "stdout"}
        is_end = end is not None and seq == last
        if is_end and end is not None:
            attrs |= {TASK_RUN_RESULT: end[0], PROCESS_EXIT_CODE: str(end[1])}
        number = 17 if seq in errors else 9
        b.timestamp.append(BASE + at * SEC + seq * 1_000_000)
        b.trace_id.append("")
        b.span_id.append("")
        b.trace_flags.append(0)
        b.severity_text.append("ERROR" if number == 17 else "INFO")
        b.severity_number.append(number)
        b.service_name.append(res["service.name"])
        b.body.append(f"{tid} line {seq}")
        b.resource_schema_url.append("")
        b.resource_attributes.append(res)
        b.scope_schema_url.append("")
        b.scope_name.append("tasklogs.stdout")
        b.scope_version.append("")
        b.scope_attributes.append({})
        b.log_attributes.append(attrs)
        b.event_name.append(EVENT_TASK_END if is_end else "")
    return b


def index(store: ContractStore) -> RunIndex:
    assert isinstance(store, RunIndex)
    return cast("RunIndex", store)


def refused(store: str) -> float:
    name = "tasklogs_store_refused_foreign_log_records_total"
    return REGISTRY.get_sample_value(name, {"store": store}) or 0.0


def test_a_task_summary_counts_lines_errors_and_its_end(
    empty_store: ContractStore, backend: str
) -> None:
    empty_store.push(batch("t1", range(1, 6), run="r1", errors=(3,), stderr=(4,), attempt=2))
    empty_store.push(batch("t1", range(6, 11), run="r1", errors=(8,), end=("failure", 3)))
    t = index(empty_store).task("t1", "acme")
    assert t is not None
    assert (t.task_run_id, t.pipeline_run_id, t.tenant) == ("t1", "r1", "acme")
    assert (t.pipeline_name, t.task_name, t.service_name, t.attempt) == (
        "nightly",
        "build",
        "svc-build",
        2,
    )
    assert (t.first_ns, t.last_ns) == (BASE + 1_000_000, BASE + 10_000_000)
    assert (t.line_count, t.error_count, t.first_error_seq, t.max_seq) == (10, 3, 3, 10)
    assert (t.result, t.exit_code, t.end_ns) == ("failure", 3, BASE + 10_000_000)
    # Before its end: no result yet.
    empty_store.push(batch("t2", range(1, 3), run="r1"))
    open_task = index(empty_store).task("t2", None)
    assert open_task is not None
    assert (open_task.result, open_task.exit_code, open_task.end_ns) == ("", None, None)
    assert open_task.first_error_seq is None
    assert index(empty_store).task("nope", None) is None


def test_a_run_lists_its_task_runs_by_start(empty_store: ContractStore) -> None:
    empty_store.push(batch("late", range(1, 3), run="r1", task="test", at=5))
    empty_store.push(batch("early", range(1, 4), run="r1", task="build", end=("success", 0)))
    run = index(empty_store).run("r1", "acme")
    assert run is not None
    assert [t.task_run_id for t in run.tasks] == ["early", "late"]
    assert run.pipeline_name == "nightly"
    assert run.start_ns == BASE + 1_000_000
    assert index(empty_store).run("r1", "globex") is None
    assert index(empty_store).run("nope", None) is None


@pytest.fixture(scope="module")
def runs_store(world_store: ContractStore) -> ContractStore:
    """Twelve runs of two pipelines (one a second apart) for acme, one for globex."""
    for i in range(12):
        pipeline = "nightly" if i % 2 == 0 else "release"
        world_store.push(
            batch(f"ix-{i}-a", range(1, 3), run=f"ix-run-{i:02d}", pipeline=pipeline, at=100 + i)
        )
        world_store.push(
            batch(f"ix-{i}-b", range(1, 2), run=f"ix-run-{i:02d}", task=f"deploy-{i}", at=100 + i)
        )
    world_store.push(batch("ix-g", range(1, 3), run="ix-globex", tenant="globex", at=200))
    return world_store


def _ids(store: ContractStore, q: RunsQuery) -> list[str]:
    return [r.run_id for r in index(store).runs(q).runs]


def test_runs_are_newest_first_in_pages(runs_store: ContractStore) -> None:
    everything = _ids(runs_store, RunsQuery(tenant="acme", since_ns=BASE + 100 * SEC))
    assert everything == [f"ix-run-{i:02d}" for i in reversed(range(12))]
    seen: list[str] = []
    q = RunsQuery(tenant="acme", since_ns=BASE + 100 * SEC, limit=5)
    for _ in range(10):
        page = index(runs_store).runs(q)
        seen += [r.run_id for r in page.runs]
        if page.next_cursor is None:
            break
        assert RunCursor.decode(page.next_cursor.encode()) == page.next_cursor
        q = RunsQuery(tenant="acme", since_ns=BASE + 100 * SEC, limit=5, after=page.next_cursor)
    assert seen == everything
    first = index(runs_store).runs(RunsQuery(tenant="acme", limit=1)).runs[0]
    assert [t.task_run_id for t in first.tasks] == ["ix-11-a", "ix-11-b"]


def test_runs_filters(runs_store: ContractStore) -> None:
    since = BASE + 100 * SEC
    release = _ids(runs_store, RunsQuery(tenant="acme", pipeline="release", since_ns=since))
    assert release == [f"ix-run-{i:02d}" for i in (11, 9, 7, 5, 3, 1)]
    window = RunsQuery(tenant="acme", since_ns=BASE + 103 * SEC, until_ns=BASE + 106 * SEC)
    assert _ids(runs_store, window) == ["ix-run-05", "ix-run-04", "ix-run-03"]
    assert _ids(runs_store, RunsQuery(tenant="acme", text="DEPLOY-7")) == ["ix-run-07"]
    assert _ids(runs_store, RunsQuery(tenant="acme", text="run-1")) == ["ix-run-11", "ix-run-10"]
    assert "ix-run-00" in _ids(runs_store, RunsQuery(tenant="acme", text="NIGHT"))
    assert _ids(runs_store, RunsQuery(tenant="acme", text="nothing-like-it")) == []


def test_runs_of_another_tenant_are_absent(runs_store: ContractStore) -> None:
    assert "ix-globex" not in _ids(runs_store, RunsQuery(tenant="acme", limit=1000))
    assert _ids(runs_store, RunsQuery(tenant="globex", since_ns=BASE + 100 * SEC)) == ["ix-globex"]
    assert "ix-globex" in _ids(runs_store, RunsQuery(limit=1000))
    assert index(runs_store).task("ix-g", "acme") is None


def test_first_writer_owns_a_task_run_for_good(empty_store: ContractStore, backend: str) -> None:
    before = refused(backend)
    empty_store.push(batch("own", range(1, 4), run="r1", tenant="acme", at=10))
    # Another tenant writes under the id, with older timestamps, in two batches.
    empty_store.push(batch("own", range(4, 6), run="r1", tenant="evil", at=0))
    mixed = batch("own", range(6, 8), run="r1", tenant="acme", at=11)
    mixed.extend(batch("own", range(8, 9), run="evil-run", tenant="evil", at=11))
    empty_store.push(mixed)
    assert refused(backend) == before + 3
    task = index(empty_store).task("own", None)
    assert task is not None
    assert (task.tenant, task.line_count, task.max_seq) == ("acme", 5, 7)
    assert index(empty_store).task("own", "evil") is None
    page = empty_store.query(HistoryQuery(task_run_id="own"))
    assert [r.seq for r in page.records] == [1, 2, 3, 6, 7]
    assert {r.tenant for r in page.records} == {"acme"}


def test_a_new_task_run_in_one_batch_goes_to_its_first_writer(
    empty_store: ContractStore, backend: str
) -> None:
    before = refused(backend)
    both = batch("fresh", range(1, 3), run="r1", tenant="acme")
    both.extend(batch("fresh", range(3, 4), run="r1", tenant="evil"))
    empty_store.push(both)
    assert refused(backend) == before + 1
    task = index(empty_store).task("fresh", None)
    assert task is not None
    assert (task.tenant, task.line_count) == ("acme", 2)


def test_a_replayed_batch_is_counted_once(empty_store: ContractStore) -> None:
    b = batch("once", range(1, 6), run="r1", token="index-token-1")
    empty_store.push(b)
    empty_store.push(b)
    task = index(empty_store).task("once", None)
    assert task is not None
    assert task.line_count == 5


def test_invalid_runs_queries_are_refused() -> None:
    with pytest.raises(StoreError):
        RunsQuery(limit=0)
    for bad in ("", "x", "12", ":run", "a:run"):
        with pytest.raises(StoreError):
            RunCursor.decode(bad)
