"""A pipeline run's page reads the run projection in order: few granules, no full sort.

Task run ids of many runs interleave in the table's sort key (``TaskRunId`` first), so a
run's lines are spread over most granules there; the projection ``by_run`` holds them
contiguously in run order. Checked with ``EXPLAIN indexes = 1`` (granules), not time.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import clickhouse_connect
import pytest

from collector_service.component.store import HistoryQuery
from tasklogs_clickhouse import ClickHouseConfig, ClickHouseExporter, _history
from tests.live_tail.support import make_batch
from tests.stores.test_order import forward

RUNS, TASKS, LINES = 16, 4, 1200


def _store(dsn: str, projection: bool) -> Iterator[ClickHouseExporter]:
    database = f"r_{uuid.uuid4().hex[:12]}"
    config = ClickHouseConfig(database=database, ttl=None, run_projection=projection)
    try:
        with ClickHouseExporter(config, dsn) as store:
            batch = make_batch("t0-r00", range(1, LINES + 1), run="run-00")
            for t in range(TASKS):
                for r in range(RUNS):
                    if (t, r) != (0, 0):
                        more = make_batch(f"t{t}-r{r:02d}", range(1, LINES + 1), run=f"run-{r:02d}")
                        batch.extend(more)
            store.push(batch)
            yield store
    finally:
        client = clickhouse_connect.get_client(dsn=dsn)
        client.command(f"DROP DATABASE IF EXISTS `{database}`")
        client.close()


@pytest.fixture(scope="module")
def with_projection(clickhouse_dsn: str) -> Iterator[ClickHouseExporter]:
    yield from _store(clickhouse_dsn, True)


@pytest.fixture(scope="module")
def without_projection(clickhouse_dsn: str) -> Iterator[ClickHouseExporter]:
    yield from _store(clickhouse_dsn, False)


def _plan(store: ClickHouseExporter, q: HistoryQuery) -> str:
    sql, params = _history.build(q, store._columns, store.schema.table)
    rows = (
        store._require_client()
        .query(f"EXPLAIN indexes = 1 {sql}", parameters=params, settings=store._settings(q))
        .result_rows
    )
    return "\n".join(str(r[0]) for r in rows)


def _granules(plan: str) -> int:
    """Granules the read selects (the last index step's count)."""
    found = re.findall(r"Granules: (\d+)/(\d+)", plan)
    assert found, plan
    return int(found[-1][0])


@pytest.mark.parametrize("newest", [False, True])
def test_a_run_page_reads_the_projection_in_order(
    with_projection: ClickHouseExporter, without_projection: ClickHouseExporter, newest: bool
) -> None:
    q = HistoryQuery(pipeline_run_id="run-07", limit=1000, newest=newest)
    plan = _plan(with_projection, q)
    assert f"ReadFromMergeTree ({_history.RUN_PROJECTION})" in plan, plan
    assert ("Read type: InReverseOrder" if newest else "Read type: InOrder") in plan, plan
    plain = _plan(without_projection, q)
    assert _history.RUN_PROJECTION not in plain
    # The run's 4,800 lines are one or two granules of the projection, and spread over
    # one granule per task (or more) in the table's own order.
    assert _granules(plan) <= 2
    assert _granules(plain) >= TASKS
    task_plan = _plan(with_projection, HistoryQuery(task_run_id="t1-r07", limit=100))
    assert _history.RUN_PROJECTION not in task_plan  # a task's page stays on the sort key


def test_both_read_the_same_lines_in_the_same_order(
    with_projection: ClickHouseExporter, without_projection: ClickHouseExporter
) -> None:
    q = HistoryQuery(pipeline_run_id="run-03", limit=700)
    got = forward(with_projection, q)
    assert len(got) == TASKS * LINES
    assert got == forward(without_projection, q)
    assert with_projection.count(q) == TASKS * LINES
