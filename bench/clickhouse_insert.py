"""ClickHouse store benchmark: decode + insert rows/s, bytes per row, first-page latency.

Everything runs in this process on the embedded engine (chDB), one Python thread:

1. ``decode``: OTLP ``ExportLogsServiceRequest`` (512 records of ~200-byte lines, 2 log
   attributes, 6 resource attributes) to a column-wise ``LogBatch``.
2. ``insert``: ``ClickHouseExporter.push`` of 65,536-row batches (clickhouse-connect's
   columnar Native insert with a dedup token), and for comparison the same batches as
   Arrow tables (built with pyarrow, which chdb already depends on) via ``insert_arrow``.
4. ``bytes/row`` on disk after the parts are merged, for realistic, varied lines.
5. First page (1,000 lines) of one task run's history among 10 million rows generated
   inside the engine (``INSERT ... SELECT FROM numbers()``): median of several task runs,
   in seq order, newest-N, and a pipeline run's first page.

    .venv/bin/python -m bench.clickhouse_insert [--rows 262144] [--history-rows 10000000]
    .venv/bin/python -m bench.clickhouse_insert --body-index tokenbf --history-rows 0

Medians of ``--repeat`` runs; the machine is shared, so ratios within one run are the
robust figures, and CPU seconds of this process (engine threads included) are reported
beside wall time. Results are printed and saved to bench/results/clickhouse_insert.json
(``clickhouse_insert_<body index>.json`` for another ``--body-index``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from itertools import accumulate, chain
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs, SeverityNumber
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from collector_service.component.decode import decode_request
from collector_service.component.model import COLUMN_NAMES, LogBatch
from collector_service.component.store import HistoryQuery
from tasklogs_clickhouse import ClickHouseConfig, ClickHouseExporter

PER_REQUEST = 512
PER_INSERT = 65_536
_WORDS = ["request", "handled", "cache", "miss", "retry", "upstream", "connect", "timeout"]


def _kv(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _line(rng: random.Random, seq: int, ts: int) -> str:
    """A ~200-byte line with the entropy of a real one: ids, numbers, a few words."""
    words = " ".join(rng.choices(_WORDS, k=4))
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts // 10**9))
    return (
        f"{stamp}.{ts % 10**9 // 10**6:03d}Z "
        f"{rng.choice(('INFO', 'INFO', 'INFO', 'DEBUG', 'WARN'))} worker-{rng.randrange(16)} "
        f"{words}: item={seq} key={rng.getrandbits(64):016x} "
        f"elapsed_ms={rng.randrange(5000)} bytes={rng.randrange(10**7)} "
        f"path=/api/v1/items/{rng.randrange(10**6)} status={rng.choice((200, 200, 201, 404, 500))}"
    ).ljust(200, ".")


def make_requests(rows: int, seed: int = 1) -> list[bytes]:
    """Serialized requests, 512 records each, one task run per request."""
    rng = random.Random(seed)
    out = []
    now = time.time_ns()
    for r in range(rows // PER_REQUEST):
        task = f"task-{r:06d}"
        resource = Resource(
            attributes=[
                _kv("service.name", "bench"),
                _kv("cicd.pipeline.name", "nightly"),
                _kv("cicd.pipeline.run.id", f"run-{r // 64}"),
                _kv("cicd.pipeline.task.name", f"step-{r % 8}"),
                _kv("cicd.pipeline.task.run.id", task),
                _kv("tasklogs.tenant", "acme"),
            ]
        )
        records = []
        for i in range(PER_REQUEST):
            ts = now + (r * PER_REQUEST + i) * 1000
            records.append(
                LogRecord(
                    time_unix_nano=ts,
                    observed_time_unix_nano=ts,
                    severity_number=SeverityNumber.SEVERITY_NUMBER_INFO,
                    severity_text="INFO",
                    body=AnyValue(string_value=_line(rng, i + 1, ts)),
                    attributes=[_kv("tasklogs.seq", i + 1), _kv("log.iostream", "stdout")],
                )
            )
        scope = ScopeLogs(scope=InstrumentationScope(name="tasklogs.stdout"), log_records=records)
        req = ExportLogsServiceRequest(
            resource_logs=[ResourceLogs(resource=resource, scope_logs=[scope])]
        )
        out.append(req.SerializeToString())
    return out


def _decode(payloads: list[bytes]) -> list[LogBatch]:
    """Parse + decode into batches of PER_INSERT rows (what the pipeline hands a writer)."""
    batches: list[LogBatch] = []
    per_batch = PER_INSERT // PER_REQUEST
    for start in range(0, len(payloads), per_batch):
        batch = LogBatch()
        for payload in payloads[start : start + per_batch]:
            decode_request(ExportLogsServiceRequest.FromString(payload), batch, "acme")
        batches.append(batch)
    return batches


def each(fn: Callable[[LogBatch], None], batches: list[LogBatch]) -> None:
    for b in batches:
        fn(b)


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds of this process (engine threads too)."""
    wall, cpu = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


_MAPS = ("ResourceAttributes", "ScopeAttributes", "LogAttributes")


def _arrow_insert(store: ClickHouseExporter, batch: LogBatch) -> None:
    """The batch as an Arrow table through clickhouse-connect's ``insert_arrow``."""
    import pyarrow as pa  # type: ignore[import-untyped]

    types = {
        "Timestamp": pa.timestamp("ns"),
        "TraceFlags": pa.uint8(),
        "SeverityNumber": pa.uint8(),
    }
    arrays = {}
    for name, col in zip(COLUMN_NAMES, batch.columns(), strict=True):
        if name in _MAPS:
            offsets = list(accumulate(map(len, col), initial=0))
            arrays[name] = pa.MapArray.from_arrays(
                pa.array(offsets, pa.int32()),
                pa.array(list(chain.from_iterable(col)), pa.string()),
                pa.array(list(chain.from_iterable(map(dict.values, col))), pa.string()),
            )
        else:
            # Columns not listed are strings, or integers (counts) of the type pyarrow infers.
            strings = not col or isinstance(col[0], str)
            arrays[name] = pa.array(col, types.get(name, pa.string() if strings else None))
    store._require_client().insert_arrow(store.schema.table, pa.table(arrays))


def bench_insert(store: ClickHouseExporter, rows: int, repeat: int) -> dict[str, Any]:
    payloads = make_requests(rows)
    n = len(payloads) * PER_REQUEST
    batches = _decode(payloads)
    timings = {
        "decode": _timed(lambda: _decode(payloads), repeat),
        "insert": _timed(lambda: each(store.push, batches), repeat),
        "arrow_insert": _timed(lambda: each(lambda b: _arrow_insert(store, b), batches), repeat),
        "decode_plus_insert": _timed(lambda: each(store.push, _decode(payloads)), repeat),
    }
    out: dict[str, Any] = {"rows": n, "rows_per_insert": PER_INSERT}
    for name, (wall, cpu) in timings.items():
        out[f"{name}_rows_per_s"] = round(n / wall)
        out[f"{name}_us_per_row"] = round(wall / n * 1e6, 2)
        out[f"{name}_cpu_us_per_row"] = round(cpu / n * 1e6, 2)
        out[f"{name}_rows_per_cpu_s"] = round(n / cpu)
    out["arrow_insert_cpu_vs_native"] = round(timings["arrow_insert"][1] / timings["insert"][1], 2)
    return out


def bench_bytes_per_row(store: ClickHouseExporter) -> dict[str, Any]:
    client = store._require_client()
    client.command(f"OPTIMIZE TABLE {store.schema.table} FINAL")
    rows, on_disk, body = client.query(
        "SELECT sum(rows), sum(bytes_on_disk), "
        "(SELECT avg(length(Body)) FROM {db:Identifier}.otel_logs) "
        "FROM system.parts WHERE active AND database = {db:String} AND table = 'otel_logs'",
        parameters={"db": store.config.database},
    ).result_rows[0]
    columns = client.query(
        "SELECT name, sum(data_compressed_bytes) FROM system.columns "
        "WHERE database = {db:String} AND table = 'otel_logs' GROUP BY name "
        "ORDER BY 2 DESC LIMIT 5",
        parameters={"db": store.config.database},
    ).result_rows
    indexes = client.query(
        "SELECT name, type, data_compressed_bytes FROM system.data_skipping_indices "
        "WHERE database = {db:String} AND table = 'otel_logs' ORDER BY 3 DESC",
        parameters={"db": store.config.database},
    ).result_rows
    return {
        "stored_rows": int(rows),
        "avg_body_bytes": round(float(body), 1),
        "bytes_per_row_on_disk": round(int(on_disk) / int(rows), 1),
        "largest_columns_bytes_per_row": {
            str(name): round(int(size) / int(rows), 1) for name, size in columns
        },
        "skip_index_bytes_per_row": {
            f"{name} ({kind})": round(int(size) / int(rows), 1) for name, kind, size in indexes
        },
    }


_GENERATE = """
INSERT INTO {table} (Timestamp, SeverityText, SeverityNumber, ServiceName, Body,
                     ResourceAttributes, ScopeName, LogAttributes)
SELECT
    fromUnixTimestamp64Nano(toInt64({start:Int64} + number * 1000)) AS Timestamp,
    if(intDiv(number, {tasks:UInt64}) % 50 = 0, 'ERROR', 'INFO'),
    if(intDiv(number, {tasks:UInt64}) % 50 = 0, 17, 9),
    'bench',
    rightPad(concat(toString(Timestamp), ' INFO worker-', toString(number % 16),
        ' request handled: item=', toString(intDiv(number, {tasks:UInt64}) + 1),
        ' key=', hex(sipHash64(number)), ' elapsed_ms=', toString(number % 5000),
        ' path=/api/v1/items/', toString(number % 1000000)), 200, '.'),
    map('service.name', 'bench', 'cicd.pipeline.name', 'nightly',
        'cicd.pipeline.run.id', concat('run-', toString(number % {tasks:UInt64} % 100)),
        'cicd.pipeline.task.run.id', concat('task-', toString(number % {tasks:UInt64})),
        'tasklogs.tenant', 'acme'),
    'tasklogs.stdout',
    map('tasklogs.seq', toString(intDiv(number, {tasks:UInt64}) + 1), 'log.iostream', 'stdout')
FROM numbers({rows:UInt64})
"""


def bench_history(store: ClickHouseExporter, rows: int, repeat: int) -> dict[str, Any]:
    """``rows`` rows over rows/1000 task runs interleaved in time, then first pages."""
    tasks = max(1, rows // 1000)
    client = store._require_client()
    started = time.perf_counter()
    client.command(
        _GENERATE.replace("{table}", store.schema.table),
        parameters={"start": time.time_ns(), "rows": rows, "tasks": tasks},
    )
    generate_s = time.perf_counter() - started
    # Let the background merges of the generated parts finish: their CPU would otherwise
    # be counted against the queries (the engine runs in this process).
    settle = time.perf_counter()
    while time.perf_counter() - settle < 600:
        merging = client.query("SELECT count() FROM system.merges").result_rows[0][0]
        if not merging:
            break
        time.sleep(1)
    settle_s = time.perf_counter() - settle
    parts = client.query(
        "SELECT count() FROM system.parts WHERE active AND database = {db:String}",
        parameters={"db": store.config.database},
    ).result_rows[0][0]
    rng = random.Random(3)

    def first_pages(make: Callable[[str], HistoryQuery]) -> dict[str, float]:
        """Median wall and CPU milliseconds of one page, over random task runs."""
        wall, cpu = [], []
        for _ in range(repeat * 5):
            q = make(f"task-{rng.randrange(tasks)}")
            w, c = time.perf_counter(), time.process_time()
            page = store.query(q)
            wall.append(time.perf_counter() - w)
            cpu.append(time.process_time() - c)
            assert len(page.records) == min(q.limit, rows // tasks), len(page.records)
        return {
            "wall_ms": round(statistics.median(wall) * 1000, 1),
            "cpu_ms": round(statistics.median(cpu) * 1000, 1),
        }

    return {
        "history_rows": rows,
        "history_task_runs": tasks,
        "generate_s": round(generate_s, 1),
        "merges_settled_after_s": round(settle_s, 1),
        "history_active_parts": int(parts),
        "task_first_page_1000_ms": first_pages(lambda t: HistoryQuery(task_run_id=t)),
        "task_newest_1000_ms": first_pages(lambda t: HistoryQuery(task_run_id=t, newest=True)),
        "task_first_page_20_errors_ms": first_pages(
            lambda t: HistoryQuery(task_run_id=t, min_severity=17, limit=20)
        ),
        "pipeline_run_first_page_1000_ms": first_pages(
            lambda t: HistoryQuery(pipeline_run_id=f"run-{int(t[5:]) % 100}")
        ),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--rows", type=int, default=PER_INSERT * 4)
    p.add_argument("--history-rows", type=int, default=10_000_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--body-index", default="auto", choices=("auto", "text", "tokenbf", "none"))
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="tasklogs-bench-") as tmp:
        dsn = f"chdb://{tmp}/chdb"
        result: dict[str, Any] = {
            "engine": "chdb",
            "cpus": os.cpu_count(),
            "load_average_at_start": round(os.getloadavg()[0], 1),
        }
        config = ClickHouseConfig(database="ins", body_index=args.body_index)
        with ClickHouseExporter(config, dsn) as store:
            result["body_index"] = args.body_index
            result |= bench_insert(store, args.rows, args.repeat)
            result |= bench_bytes_per_row(store)
        if args.history_rows:
            with ClickHouseExporter(ClickHouseConfig(database="hist"), dsn) as store:
                result |= bench_history(store, args.history_rows, args.repeat)
    result["load_average_at_end"] = round(os.getloadavg()[0], 1)
    print(json.dumps(result, indent=2))
    suffix = "" if args.body_index == "auto" else f"_{args.body_index}"
    out = Path(__file__).parent / "results" / f"clickhouse_insert{suffix}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
