"""The references every figure is printed beside, measured in this process in the same run
on the same rows the load generator sends: protobuf parse alone, the columnar decode alone
(of already parsed requests), each store's own bulk insert of the decoded rows, and
pipelined Redis XADD of the same Export bodies.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench import clickhouse_insert, postgres_write
from bench.common import task_payloads

PER_INSERT = clickhouse_insert.PER_INSERT


def payloads(rows: int, lines_per_export: int) -> list[bytes]:
    """Export bodies of simulated tasks (as the load generator sends) holding ``rows``."""
    out: list[bytes] = []
    task = 0
    while len(out) * lines_per_export < rows:
        out.extend(task_payloads(task, lines_per_export))
        task += 1
    return out


def _rate(fn: Callable[[], int], repeat: int) -> float:
    """Median items/s of ``fn`` (which returns how many items it handled)."""
    rates = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = fn()
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def parse_and_decode(bodies: list[bytes], repeat: int) -> dict[str, float]:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    from collector_service.component.decode import decode_request
    from collector_service.component.model import LogBatch

    parsed = [ExportLogsServiceRequest.FromString(b) for b in bodies]
    lines = sum(len(r.resource_logs[0].scope_logs[0].log_records) for r in parsed)

    def parse() -> int:
        for b in bodies:
            ExportLogsServiceRequest.FromString(b)
        return lines

    def decode() -> int:
        batch = LogBatch()
        for r in parsed:
            decode_request(r, batch, "bench")
        return lines

    return {
        "protobuf_parse_lines_per_s": round(_rate(parse, repeat)),
        "columnar_decode_lines_per_s": round(_rate(decode, repeat)),
    }


def batches(bodies: list[bytes]) -> list[Any]:
    """The rows decoded into LogBatches of up to 65,536 rows, as a writer hands a store."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    from collector_service.component.decode import decode_request
    from collector_service.component.model import LogBatch

    out = [LogBatch()]
    for b in bodies:
        if len(out[-1]) >= PER_INSERT:
            out.append(LogBatch())
        decode_request(ExportLogsServiceRequest.FromString(b), out[-1], "bench")
    return out


def chdb_insert(bodies: list[bytes], repeat: int) -> float:
    """Lines/s of ``ClickHouseExporter.push`` on a fresh embedded chDB (bulk, in process)."""
    from tasklogs_clickhouse import ClickHouseConfig, ClickHouseExporter

    rows = batches(bodies)
    n = sum(len(b) for b in rows)
    with (
        tempfile.TemporaryDirectory(prefix="tasklogs-bench-") as tmp,
        ClickHouseExporter(ClickHouseConfig(database="ref"), f"chdb://{tmp}/chdb") as store,
    ):
        store.push(rows[0])  # the first insert imports pandas and warms the engine
        wall, _cpu = clickhouse_insert._timed(
            lambda: clickhouse_insert.each(store.push, rows), repeat
        )
    return n / wall


def postgres_copy(bodies: list[bytes], repeat: int) -> float:
    """Lines/s of ``PostgresExporter.push`` (binary COPY, every index) into a fresh schema."""
    rows = batches(bodies)
    n = sum(len(b) for b in rows)
    return statistics.median(n / postgres_write.time_postgres(rows) for _ in range(repeat))


def redis_xadd(url: str, bodies: list[bytes], lines_per_export: int, repeat: int) -> float:
    """Lines/s of pipelined XADD (128 per round trip) of the same Export bodies."""
    import redis

    client = redis.Redis.from_url(url)
    key = f"{{bench{uuid.uuid4().hex[:8]}}}:xadd"
    entries = (bodies * (1 + 4096 // len(bodies)))[:4096]

    def xadd() -> int:
        for i in range(0, len(entries), 128):
            pipe = client.pipeline(transaction=False)
            for body in entries[i : i + 128]:
                pipe.xadd(key, {"r": body})
            pipe.execute()
        client.delete(key)
        return len(entries) * lines_per_export

    try:
        return _rate(xadd, repeat)
    finally:
        client.delete(key)
        client.close()


def measure(
    stores: set[str], rows: int, lines_per_export: int, redis_url: str, repeat: int
) -> dict[str, Any]:
    """Every reference for one Export size; ``stores`` picks the bulk inserts to run. A
    reference that fails is reported under ``errors`` and the others are still measured."""
    bodies = payloads(rows, lines_per_export)
    result: dict[str, Any] = {"rows": len(bodies) * lines_per_export, "errors": {}}
    result |= parse_and_decode(bodies, repeat)
    wanted: dict[str, Callable[[], float]] = {}
    if {"embedded", "redis"} & stores:
        wanted["chdb_bulk_insert_lines_per_s"] = lambda: chdb_insert(bodies, repeat)
    if "postgres" in stores:
        wanted["postgres_copy_lines_per_s"] = lambda: postgres_copy(bodies, repeat)
    if "redis" in stores:
        wanted["redis_xadd_pipelined_lines_per_s"] = lambda: redis_xadd(
            redis_url, bodies, lines_per_export, repeat
        )
    for key, fn in wanted.items():
        try:
            result[key] = round(fn())
        except Exception as exc:
            result["errors"][key] = f"{type(exc).__name__}: {exc}"
    return result
