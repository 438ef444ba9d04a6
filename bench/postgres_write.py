"""PostgreSQL store: COPY write rate vs the ClickHouse store, and history latency at scale.

1. Writes: the same LogBatches (``--rows`` rows in pushes of ``--batch``) through
   ``PostgresExporter.push`` (binary COPY, every index incl. pg_trgm) and through
   ``ClickHouseExporter.push`` on chDB, alternating for ``--rounds`` rounds, each round on
   a fresh schema / database. Reports rows/s of each (medians) and their ratio, measured
   in one run because this 2-core machine is shared and noisy.
2. Scale: ``--scale-rows`` rows (default 10 million: 10,000 task runs x 1,000 lines over
   five daily partitions) generated server-side (INSERT ... SELECT generate_series), then
   the first page of one task's history (oldest first, and ``newest=True``, the late
   joiner's screen) and of one pipeline run, timed through ``PostgresExporter.query``.
   Rows are loaded without indexes, which are then built from the migrations' SQL.
   The schema is dropped afterwards.

    .venv/bin/python -m bench.postgres_write [--rows 200000] [--scale-rows 10000000]

Results are printed and saved to bench/results/postgres_write.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from collector_service.component.model import LogBatch
from collector_service.component.store import HistoryQuery
from tasklogs_clickhouse import ClickHouseConfig, ClickHouseExporter
from tasklogs_postgres import PostgresConfig, PostgresExporter
from tasklogs_postgres._query import build_history_query
from tasklogs_postgres._schema import MIGRATIONS, render

DSN = os.environ.get("POSTGRES_DSN", "postgresql://127.0.0.1:5432/test")
DAY_NS = 86_400 * 10**9
BASE_NS = 1_795_000_000_000_000_000 // DAY_NS * DAY_NS
BODY = "x" * 120


def make_batches(rows: int, batch: int, tasks: int = 200) -> list[LogBatch]:
    """Rows spread over ``tasks`` task runs, ~160-byte bodies, shared resource dicts."""
    resources = [
        {
            "service.name": "bench",
            "cicd.pipeline.run.id": f"run-{t // 20}",
            "cicd.pipeline.task.run.id": f"task-{t}",
            "cicd.pipeline.task.name": f"step-{t % 20}",
        }
        for t in range(tasks)
    ]
    out: list[LogBatch] = []
    for start in range(0, rows, batch):
        b = LogBatch()
        for i in range(start, min(rows, start + batch)):
            task, seq = i % tasks, i // tasks + 1
            b.timestamp.append(BASE_NS + i * 1_000_003)
            b.trace_id.append("")
            b.span_id.append("")
            b.trace_flags.append(0)
            b.severity_text.append("INFO")
            b.severity_number.append(9)
            b.service_name.append("bench")
            b.body.append(f"{BODY} task {task} line {seq}")
            b.resource_schema_url.append("")
            b.resource_attributes.append(resources[task])
            b.scope_schema_url.append("")
            b.scope_name.append("tasklogs.stdout")
            b.scope_version.append("")
            b.scope_attributes.append({})
            b.log_attributes.append({"tasklogs.seq": str(seq), "log.iostream": "stdout"})
            b.event_name.append("")
        out.append(b)
    return out


def drop_schema(schema: str) -> None:
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def time_postgres(batches: list[LogBatch], **overrides: Any) -> float:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    config = PostgresConfig.model_validate({"dsn": DSN, "schema": schema, **overrides})
    try:
        with PostgresExporter(config, clock=lambda: BASE_NS) as store:
            start = time.perf_counter()
            for b in batches:
                store.push(b)
            return time.perf_counter() - start
    finally:
        drop_schema(schema)


def time_clickhouse(batches: list[LogBatch], chdb_dsn: str) -> float:
    database = f"bench_{uuid.uuid4().hex[:12]}"
    store = ClickHouseExporter(ClickHouseConfig(database=database), chdb_dsn)
    store.start()
    try:
        start = time.perf_counter()
        for b in batches:
            store.push(b)
        return time.perf_counter() - start
    finally:
        store._require_client().command(f"DROP DATABASE IF EXISTS `{database}`")
        store.shutdown()


def write_benchmark(rows: int, batch: int, rounds: int) -> dict[str, Any]:
    batches = make_batches(rows, batch)
    pg, pg_plain, ch = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        chdb_dsn = f"chdb://{Path(tmp) / 'chdb'}"
        for r in range(rounds):
            pg.append(rows / time_postgres(batches))
            pg_plain.append(rows / time_postgres(batches, text_index="none"))
            ch.append(rows / time_clickhouse(batches, chdb_dsn))
            print(
                f"round {r + 1}: postgres {pg[-1]:,.0f} rows/s, without pg_trgm "
                f"{pg_plain[-1]:,.0f}, clickhouse (chDB) {ch[-1]:,.0f}",
                flush=True,
            )
    return {
        "rows": rows,
        "rows_per_push": batch,
        "rounds": rounds,
        "postgres_copy_rows_per_s": round(statistics.median(pg)),
        "postgres_copy_no_trgm_rows_per_s": round(statistics.median(pg_plain)),
        "clickhouse_chdb_rows_per_s": round(statistics.median(ch)),
        "postgres_vs_clickhouse_ratio": round(statistics.median(pg) / statistics.median(ch), 3),
        "postgres_rounds": [round(x) for x in pg],
        "clickhouse_rounds": [round(x) for x in ch],
    }


_GENERATE = """
INSERT INTO {table} ("Timestamp", "TimestampNs", "SeverityText", "SeverityNumber",
    "ServiceName", "Body", "ResourceAttributes", "ScopeName", "LogAttributes")
SELECT 'epoch'::timestamptz + (ns / 1000) * interval '1 microsecond', ns,
    CASE WHEN i %% 50 = 0 THEN 'ERROR' ELSE 'INFO' END,
    CASE WHEN i %% 50 = 0 THEN 17 ELSE 9 END,
    'bench', 'task ' || task || ' line ' || seq || ' ' || repeat('x', 100),
    jsonb_build_object('service.name', 'bench', 'cicd.pipeline.run.id', 'run-' || task / 100,
        'cicd.pipeline.task.run.id', 'task-' || task,
        'cicd.pipeline.task.name', 'step-' || task %% 20),
    'tasklogs.stdout',
    jsonb_build_object('tasklogs.seq', seq::text, 'log.iostream', 'stdout')
FROM (SELECT i, i %% %(tasks)s AS task, i / %(tasks)s + 1 AS seq,
             %(base)s::bigint + i * %(step)s::bigint AS ns
      FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS i) AS g
"""


def explain(store: PostgresExporter, q: HistoryQuery) -> list[str]:
    """The executed plan's node lines (what the server did), for the results file."""
    stmt, params = build_history_query(q, sql.Identifier(store.config.db_schema, "otel_logs"))
    with psycopg.connect(DSN) as conn:
        rows = conn.execute(sql.SQL("EXPLAIN (ANALYZE, COSTS OFF) {}").format(stmt), params)
        return [str(r[0]).strip() for r in rows if "->" in str(r[0]) or "Execution" in str(r[0])]


def scale_benchmark(total: int, tasks: int, chunk: int, repeats: int) -> dict[str, Any]:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    days = 5
    step = days * DAY_NS // total
    config = PostgresConfig.model_validate(
        {"dsn": DSN, "schema": schema, "partitions_ahead": days - 1}
    )
    try:
        with PostgresExporter(config, clock=lambda: BASE_NS) as store:
            table = sql.Identifier(schema, "otel_logs")
            with psycopg.connect(DSN, autocommit=True) as conn:
                # Bulk load the way PostgreSQL wants it: without indexes, then build them
                # from the migrations' own SQL (re-runnable: IF NOT EXISTS).
                indexes = conn.execute(
                    "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = %s::regclass",
                    (f'"{schema}"."otel_logs"',),
                ).fetchall()
                for (index,) in indexes:
                    conn.execute(f"DROP INDEX {index}".encode())
                start = time.perf_counter()
                for lo in range(0, total, chunk):
                    hi = min(total, lo + chunk) - 1
                    params = {"tasks": tasks, "base": BASE_NS, "step": step, "lo": lo, "hi": hi}
                    conn.execute(sql.SQL(_GENERATE).format(table=table), params)
                    print(f"  generated {hi + 1:,} rows", flush=True)
                load_s = time.perf_counter() - start
                start = time.perf_counter()
                conn.execute("SET maintenance_work_mem = '256MB'")
                names = {"schema": schema, "table": "otel_logs", "extension_schema": "public"}
                for m in MIGRATIONS:
                    if m.version >= 2:
                        conn.execute(render(m.filename, **names).encode())
                index_s = time.perf_counter() - start
                conn.execute(sql.SQL("VACUUM ANALYZE {}").format(table))
            report = store.retention_report()
            stored = sum(p.rows for p in report.partitions)
            size = sum(p.bytes_on_disk for p in report.partitions)
            task = f"task-{tasks // 2}"
            queries = {
                "task_first_page": HistoryQuery(task_run_id=task),
                "task_newest_page": HistoryQuery(task_run_id=task, newest=True),
                "task_text_filter": HistoryQuery(task_run_id=task, text="LINE 99"),
                "run_first_page": HistoryQuery(pipeline_run_id=f"run-{tasks // 200}"),
                "run_errors_page": HistoryQuery(
                    pipeline_run_id=f"run-{tasks // 200}", min_severity=17
                ),
            }
            latencies: dict[str, Any] = {}
            for name, q in queries.items():
                times = []
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    page = store.query(q)
                    times.append((time.perf_counter() - t0) * 1000)
                latencies[name] = {
                    "plan": explain(store, q),
                    "records": len(page.records),
                    "first_ms": round(times[0], 2),
                    "median_ms": round(statistics.median(times), 2),
                    "max_ms": round(max(times), 2),
                }
                print(f"  {name}: {latencies[name]}", flush=True)
    finally:
        drop_schema(schema)
    return {
        "rows": stored,
        "task_runs": tasks,
        "partitions": days,
        "server_side_load_s": round(load_s, 1),
        "server_side_load_rows_per_s": round(total / load_s),
        "index_build_s": round(index_s, 1),
        "bytes_on_disk": size,
        "page_limit": 1000,
        "repeats": repeats,
        "latency": latencies,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale-rows", type=int, default=10_000_000)
    parser.add_argument("--scale-tasks", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", default="bench/results/postgres_write.json")
    args = parser.parse_args()
    result: dict[str, Any] = {"cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg()[0]}
    print("write benchmark", flush=True)
    result["write"] = write_benchmark(args.rows, args.batch, args.rounds)
    print(json.dumps(result["write"], indent=2), flush=True)
    if args.scale_rows:
        print(f"history at {args.scale_rows:,} rows", flush=True)
        result["history"] = scale_benchmark(
            args.scale_rows, args.scale_tasks, args.chunk, args.repeats
        )
    result["load_avg_at_end"] = os.getloadavg()[0]
    text = json.dumps(result, indent=2)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
