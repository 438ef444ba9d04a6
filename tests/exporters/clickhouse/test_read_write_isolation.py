"""Slow history queries never stop the writer.

No timings: the insert path must complete a batch while heavy queries (300 ``attr=``
filters each; 1,000 in the slow run) that began before it are still running.
"""

from __future__ import annotations

import threading

import pytest

from collector_service.component.store import HistoryQuery
from tasklogs_clickhouse import ClickHouseExporter
from tests.exporters.clickhouse.test_exporter import batch_for


@pytest.mark.parametrize(
    "filters", [300, pytest.param(1000, marks=pytest.mark.slow)], ids=["300", "1000"]
)
def test_inserts_complete_while_two_heavy_queries_run(
    store: ClickHouseExporter, filters: int
) -> None:
    heavy_filters = {f"k{i}": f"v{i}" for i in range(filters)}
    store.push(batch_for("tr-heavy", 100))  # the cost is the 1,000 filters, not the rows
    inflight: set[int] = set()
    guard = threading.Lock()
    errors: list[BaseException] = []
    ids = iter(range(1_000_000))

    def heavy() -> None:
        try:
            with guard:
                qid = next(ids)
                inflight.add(qid)
            try:  # one heavy query each (1,000 filters: ~30 s of a core on chDB)
                store.query(
                    HistoryQuery(task_run_id="tr-heavy", attributes=heavy_filters, limit=10)
                )
            finally:
                with guard:
                    inflight.discard(qid)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=heavy) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        while True:
            with guard:
                if len(inflight) == 2:
                    before = set(inflight)
                    break
        store.push(batch_for("tr-writes", 200, start=1))
        with guard:  # that insert finished while a query that began before it still runs
            still = before & inflight
        for i in range(1, 10):
            store.push(batch_for("tr-writes", 200, start=i * 200 + 1))
    finally:
        for t in threads:
            t.join()
    assert errors == []
    # The insert path never queued behind the queries.
    assert still, "the queries finished before the inserts: make them heavier"
    page = store.query(HistoryQuery(task_run_id="tr-writes", limit=10_000))
    assert [r.seq for r in page.records] == list(range(1, 2001))
