"""Baseline: OTLP/gRPC Export -> in-process queue -> chDB, through a real `tasklogs serve`.

Sends N records (~200-byte bodies, 512 per Export, spread over many task runs) from C
concurrent gRPC streams, then SIGTERMs the service, which drains its queue before it
exits, and counts the stored rows. Reports acknowledged lines/s, stored lines/s (first
Export to drained exit) and the ratio to protobuf parsing alone in this process.

    .venv/bin/python -m bench.skeleton_ingest [--records 200000] [--streams 4]

Results are printed and saved to bench/results/skeleton_ingest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import httpx
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs, SeverityNumber
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from bench.common import free_port
from tasklogs_clickhouse import ClickHouseConfig, ClickHouseExporter

BATCH = 512
BODY = "x" * 160


def request(task: int, first_seq: int) -> bytes:
    res = Resource(
        attributes=[
            KeyValue(key="service.name", value=AnyValue(string_value="bench")),
            KeyValue(key="cicd.pipeline.task.run.id", value=AnyValue(string_value=f"task-{task}")),
            KeyValue(key="cicd.pipeline.run.id", value=AnyValue(string_value="bench-run")),
        ]
    )
    now = time.time_ns()
    records = [
        LogRecord(
            time_unix_nano=now + i,
            severity_number=SeverityNumber.SEVERITY_NUMBER_INFO,
            severity_text="INFO",
            body=AnyValue(string_value=f"{BODY} line {first_seq + i}"),
            attributes=[KeyValue(key="tasklogs.seq", value=AnyValue(int_value=first_seq + i))],
        )
        for i in range(BATCH)
    ]
    req = ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(resource=res, scope_logs=[ScopeLogs(log_records=records)])]
    )
    return bytes(req.SerializeToString())


async def send(endpoint: str, payloads: list[bytes], streams: int) -> list[float]:
    latencies: list[float] = []
    async with grpc.aio.insecure_channel(endpoint) as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export")
        queue = list(reversed(payloads))

        async def worker() -> None:
            while queue:
                payload = queue.pop()
                while True:
                    t0 = time.perf_counter()
                    try:
                        await export(payload, timeout=30)
                    except grpc.aio.AioRpcError as exc:
                        if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                            raise
                        await asyncio.sleep(0.05)  # backpressure: retry, as SDKs do
                        continue
                    latencies.append(time.perf_counter() - t0)
                    break

        await asyncio.gather(*(worker() for _ in range(streams)))
    return latencies


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--tasks", type=int, default=50)
    args = ap.parse_args()
    n_batches = args.records // BATCH
    payloads = [request(b % args.tasks, (b // args.tasks) * BATCH + 1) for b in range(n_batches)]
    total = n_batches * BATCH

    t0 = time.perf_counter()
    for p in payloads:
        ExportLogsServiceRequest.FromString(p)
    parse_rate = total / (time.perf_counter() - t0)

    with tempfile.TemporaryDirectory() as tmp:
        grpc_port, api_port = free_port(), free_port()
        cfg = Path(tmp, "c.yaml")
        cfg.write_text(
            f'receivers: {{otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{grpc_port}"}}}}}}}}\n'
            f'api: {{endpoint: "127.0.0.1:{api_port}"}}\n'
        )
        tasklogs = Path(sys.executable).with_name("tasklogs")
        proc = subprocess.Popen(
            [str(tasklogs), "serve", "--config", str(cfg), "--data-dir", tmp],
            stderr=subprocess.DEVNULL,
        )
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{api_port}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        start = time.perf_counter()
        lat = asyncio.run(send(f"127.0.0.1:{grpc_port}", payloads, args.streams))
        acked = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=600)
        stored_at = time.perf_counter()
        with ClickHouseExporter(ClickHouseConfig(), f"chdb://{tmp}/chdb") as store:
            rows = store._require_client().query("SELECT count() FROM default.otel_logs")
            stored = int(rows.result_rows[0][0])
    lat.sort()
    result = {
        "records": total,
        "streams": args.streams,
        "stored": stored,
        "acked_lines_per_s": round(total / (acked - start)),
        "stored_lines_per_s": round(total / (stored_at - start)),
        "export_p50_ms": round(lat[len(lat) // 2] * 1000, 2),
        "export_p99_ms": round(lat[int(len(lat) * 0.99)] * 1000, 2),
        "protobuf_parse_only_lines_per_s": round(parse_rate),
        "stored_vs_parse_ratio": round(total / (stored_at - start) / parse_rate, 3),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))
    out = Path(__file__).parent / "results" / "skeleton_ingest.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    if stored != total:
        raise SystemExit(f"LOST RECORDS: sent {total}, stored {stored}")


if __name__ == "__main__":
    main()
