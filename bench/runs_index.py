"""Runs index pages on the ClickHouse store (chDB) among many lines and task runs.

Rows are generated inside the engine (``INSERT ... SELECT FROM numbers()``, through the
runs index's materialized view, as a writer's inserts go), ``--tasks`` task runs in runs
of ten, then the read API's index queries are timed: the newest runs page (50 runs), a
page with a text filter, one run with its tasks, one task summary; and the history
pages the viewer and ``tasklogs logs`` open with: a run's first and last 1,000 lines
(all its tasks merged) and a task's. Medians of
``--repeat``; results printed and saved to bench/results/runs_index.json.

    .venv/bin/python -m bench.runs_index [--rows 10000000] [--tasks 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from collector_service.component.store import HistoryQuery, RunsQuery
from tasklogs_clickhouse import ClickHouseConfig, ClickHouseExporter

_GENERATE = """
INSERT INTO {table} (Timestamp, SeverityText, SeverityNumber, ServiceName, Body,
                     ResourceAttributes, ScopeName, LogAttributes, EventName)
SELECT
    fromUnixTimestamp64Nano(toInt64({start:Int64} + number * 1000)) AS Timestamp,
    if(intDiv(number, {tasks:UInt64}) % 50 = 0, 'ERROR', 'INFO'),
    if(intDiv(number, {tasks:UInt64}) % 50 = 0, 17, 9),
    'bench',
    concat('line ', toString(number)),
    map('service.name', 'bench', 'cicd.pipeline.name', concat('pipe-', toString(number % 7)),
        'cicd.pipeline.run.id', concat('run-', toString(intDiv(number % {tasks:UInt64}, 10))),
        'cicd.pipeline.task.run.id', concat('task-', toString(number % {tasks:UInt64})),
        'cicd.pipeline.task.name', concat('step-', toString(number % 10)),
        'tasklogs.tenant', 'acme'),
    'tasklogs.stdout',
    if(number + {tasks:UInt64} >= {rows:UInt64},
       map('tasklogs.seq', toString(intDiv(number, {tasks:UInt64}) + 1),
           'cicd.pipeline.task.run.result', 'success', 'process.exit.code', '0'),
       map('tasklogs.seq', toString(intDiv(number, {tasks:UInt64}) + 1))),
    if(number + {tasks:UInt64} >= {rows:UInt64}, 'tasklogs.task.end', '')
FROM numbers({rows:UInt64})
"""


def _median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = ClickHouseExporter(ClickHouseConfig(ttl=None), f"chdb://{tmp}/chdb")
        store.start()
        try:
            client = store._require_client()
            started = time.perf_counter()
            client.command(
                _GENERATE.replace("{table}", store.schema.table),
                parameters={"start": time.time_ns(), "rows": args.rows, "tasks": args.tasks},
            )
            generate_s = time.perf_counter() - started
            index_rows = client.query(
                f"SELECT count() FROM {store.schema.index_table}"
            ).result_rows[0][0]
            first = store.runs(RunsQuery(limit=50))
            results: dict[str, Any] = {
                "rows": args.rows,
                "task_runs": args.tasks,
                "load_average_1m": round(os.getloadavg()[0], 1),
                "generate_s": round(generate_s, 1),
                "index_rows_unmerged": int(index_rows),
                "runs_page_50_ms": _median_ms(lambda: store.runs(RunsQuery(limit=50)), args.repeat),
                "runs_page_50_tenant_ms": _median_ms(
                    lambda: store.runs(RunsQuery(tenant="acme", limit=50)), args.repeat
                ),
                "runs_page_text_ms": _median_ms(
                    lambda: store.runs(RunsQuery(text="STEP-3", limit=50)), args.repeat
                ),
                "runs_second_page_ms": _median_ms(
                    lambda: store.runs(RunsQuery(limit=50, after=first.next_cursor)), args.repeat
                ),
                "run_detail_ms": _median_ms(lambda: store.run("run-7", "acme"), args.repeat),
                "task_summary_ms": _median_ms(lambda: store.task("task-77", "acme"), args.repeat),
                "run_first_page_1000_ms": _median_ms(
                    lambda: store.query(HistoryQuery(pipeline_run_id="run-7", limit=1000)),
                    args.repeat,
                ),
                "run_tail_page_1000_ms": _median_ms(
                    lambda: store.query(
                        HistoryQuery(pipeline_run_id="run-7", limit=1000, newest=True)
                    ),
                    args.repeat,
                ),
                "task_first_page_1000_ms": _median_ms(
                    lambda: store.query(HistoryQuery(task_run_id="task-77", limit=1000)),
                    args.repeat,
                ),
                "task_tail_page_1000_ms": _median_ms(
                    lambda: store.query(
                        HistoryQuery(task_run_id="task-77", limit=1000, newest=True)
                    ),
                    args.repeat,
                ),
            }
        finally:
            store.shutdown()
    print(json.dumps(results, indent=2))
    out = Path(__file__).parent / "results" / "runs_index.json"
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
