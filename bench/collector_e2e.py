"""End to end with Redis durability: OTLP/gRPC Export -> Redis stream -> worker -> chDB.

Starts a receiver-only `tasklogs serve` and `tasklogs worker --exporter clickhouse`
processes against the Redis at --redis (a fresh key prefix, deleted afterwards), offers
~200-byte lines from many simulated task runs over several concurrent gRPC streams at
--rate lines/s (0: as fast as the service accepts) for --seconds, and reports:

- sustained lines/s from the first Export to the moment the writer acknowledged the last
  entry (XACK happens only after the chDB INSERT committed), checked against a row count
  of the chDB store after the worker stopped;
- Export latency p50/p99 (a refused Export is retried, and its latency counts from the
  first attempt);
- the limits in this process: protobuf parsing alone, and parsing plus the column-wise
  decode into a LogBatch, as ratios.

    .venv/bin/python -m bench.collector_e2e [--rate 100000] [--seconds 20] [--streams 4]

Results are printed and saved to bench/results/collector_e2e.json. The load generator
shares the 2 cores with the service, Redis and other users of this machine.
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
import uuid
from pathlib import Path

import grpc
import httpx
import redis
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs, SeverityNumber
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from bench.common import free_port
from collector_service.component.decode import decode_request
from collector_service.component.model import LogBatch

EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
BODY = "x" * 150


def request(task: int, first_seq: int, batch: int) -> bytes:
    res = Resource(
        attributes=[
            KeyValue(key="service.name", value=AnyValue(string_value="bench")),
            KeyValue(key="cicd.pipeline.name", value=AnyValue(string_value="nightly")),
            KeyValue(key="cicd.pipeline.run.id", value=AnyValue(string_value="run-1")),
            KeyValue(key="cicd.pipeline.task.name", value=AnyValue(string_value=f"t{task}")),
            KeyValue(key="cicd.pipeline.task.run.id", value=AnyValue(string_value=f"tr-{task}")),
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
        for i in range(batch)
    ]
    req = ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(resource=res, scope_logs=[ScopeLogs(log_records=records)])]
    )
    return bytes(req.SerializeToString())


async def load(  # noqa: PLR0917
    endpoint: str, payloads: list[bytes], batch: int, streams: int, rate: int, seconds: float
) -> tuple[list[float], int, float, int]:
    """Send for ``seconds``; returns (latencies, records acked, elapsed, refusals)."""
    latencies: list[float] = []
    acked = 0
    refusals = 0
    interval = batch * streams / rate if rate else 0.0
    async with grpc.aio.insecure_channel(endpoint) as channel:
        export = channel.unary_unary(EXPORT)
        start = time.perf_counter()
        end = start + seconds

        async def stream(k: int) -> None:
            nonlocal acked, refusals
            i = k
            next_at = start + k * interval / streams
            while True:
                now = time.perf_counter()
                if now >= end:
                    return
                if interval and now < next_at:
                    await asyncio.sleep(next_at - now)
                next_at += interval
                payload = payloads[i % len(payloads)]
                i += streams
                t0 = time.perf_counter()
                while True:
                    try:
                        await export(payload, timeout=30)
                        break
                    except grpc.aio.AioRpcError as exc:
                        if exc.code() not in (
                            grpc.StatusCode.RESOURCE_EXHAUSTED,
                            grpc.StatusCode.UNAVAILABLE,
                        ):
                            raise
                        refusals += 1
                        await asyncio.sleep(0.05)
                latencies.append(time.perf_counter() - t0)
                acked += batch

        await asyncio.gather(*(stream(k) for k in range(streams)))
        return latencies, acked, time.perf_counter() - start, refusals


def group_acked(client: redis.Redis, stream: str, group: str) -> tuple[int, int]:
    """(entries added to the stream, entries the group acknowledged)."""
    info = client.xinfo_stream(stream)
    added = int(info["entries-added"])
    for g in client.xinfo_groups(stream):
        if g["name"].decode() == group:
            waiting = int(g["pending"]) + int(g["lag"] or 0)
            return added, added - waiting
    return added, 0


def spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    tasklogs = Path(sys.executable).with_name("tasklogs")
    with log.open("wb") as out:
        return subprocess.Popen([str(tasklogs), *args], stdout=out, stderr=subprocess.STDOUT)


def main() -> None:  # noqa: PLR0912, PLR0915 - one linear script
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=int, default=100_000, help="offered lines/s (0: max)")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--tasks", type=int, default=100)
    ap.add_argument("--batch", type=int, default=512, help="records per Export")
    ap.add_argument("--workers", type=int, default=1, help="worker processes (one chDB each)")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--shards", type=int, default=1, help="ingest streams")
    args = ap.parse_args()

    payloads = [
        request(t, r * args.batch + 1, args.batch) for r in range(4) for t in range(args.tasks)
    ]
    n = len(payloads) * args.batch
    t0 = time.perf_counter()
    parsed = [ExportLogsServiceRequest.FromString(p) for p in payloads]
    parse_rate = n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for p in payloads:
        decode_request(ExportLogsServiceRequest.FromString(p), LogBatch(), "tenant")
    decode_rate = n / (time.perf_counter() - t0)
    del parsed

    prefix = f"bench{uuid.uuid4().hex[:8]}"
    streams = [f"{{{prefix}:ingest:{i}}}" for i in range(args.shards)]
    client = redis.Redis.from_url(args.redis)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        grpc_port, api_port = free_port(), free_port()
        cfg = root / "c.yaml"
        cfg.write_text(
            f'receivers: {{otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{grpc_port}"}}}}}}}}\n'
            "exporters:\n  clickhouse:\n"
            "    batch: {send_batch_max_size: 65536, timeout_ms: 1000}\n"
            f'api: {{endpoint: "127.0.0.1:{api_port}"}}\n'
            f"redis:\n  url: {args.redis}\n  key_prefix: {prefix}\n"
            f"  ingest: {{max_backlog_entries: 1024, read_count: 128, shards: {args.shards}}}\n"
            # The storage path only: the live tail's own consumer group would need a
            # worker of its own (`tasklogs worker --exporter live_tail`), see bench/live_*.
            "extensions: {live_tail: {enabled: false}}\n",
            encoding="utf-8",
        )
        serve = spawn(
            ["serve", "--no-writers", "--config", str(cfg), "--data-dir", tmp], root / "serve.log"
        )
        workers = [
            spawn(
                [
                    "worker",
                    "--exporter",
                    "clickhouse",
                    "--config",
                    str(cfg),
                    "--data-dir",
                    str(root / f"w{i}"),
                ],
                root / f"worker{i}.log",
            )
            for i in range(args.workers)
        ]
        try:
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{api_port}/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            for i in range(args.workers):
                while "writers for" not in (root / f"worker{i}.log").read_text():
                    time.sleep(0.1)
            start = time.perf_counter()
            lat, acked, send_s, refusals = asyncio.run(
                load(
                    f"127.0.0.1:{grpc_port}",
                    payloads,
                    args.batch,
                    args.streams,
                    args.rate,
                    args.seconds,
                )
            )
            entries = acked // args.batch
            while sum(group_acked(client, s, "clickhouse")[1] for s in streams) < entries:
                time.sleep(0.05)
            stored_at = time.perf_counter()
            for w in workers:
                w.send_signal(signal.SIGTERM)
            for w in workers:
                w.wait(timeout=120)
            stored = 0
            for i in range(args.workers):
                out = subprocess.run(
                    [
                        sys.executable,
                        "-c",
                        "import sys, clickhouse_connect as c; "
                        "print(c.get_client(dsn=sys.argv[1]).query("
                        "'SELECT count() FROM default.otel_logs').result_rows[0][0])",
                        f"chdb://{root / f'w{i}' / 'chdb'}",
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                stored += int(out.stdout)
        finally:
            serve.send_signal(signal.SIGTERM)
            serve.wait(timeout=60)
            for w in workers:
                if w.poll() is None:
                    w.kill()
            for key in client.scan_iter(match=f"{{{prefix}:*"):
                client.delete(key)
    lat.sort()
    e2e = acked / (stored_at - start)
    result = {
        "offered_lines_per_s": args.rate or "max",
        "seconds": args.seconds,
        "streams": args.streams,
        "tasks": args.tasks,
        "records_per_export": args.batch,
        "workers": args.workers,
        "shards": args.shards,
        "acked": acked,
        "stored": stored,
        "refusals_retried": refusals,
        "acked_lines_per_s": round(acked / send_s),
        "end_to_end_lines_per_s": round(e2e),
        "export_p50_ms": round(lat[len(lat) // 2] * 1000, 2),
        "export_p99_ms": round(lat[int(len(lat) * 0.99)] * 1000, 2),
        "protobuf_parse_only_lines_per_s": round(parse_rate),
        "parse_and_columnar_decode_lines_per_s": round(decode_rate),
        "end_to_end_vs_parse_ratio": round(e2e / parse_rate, 3),
        "end_to_end_vs_decode_ratio": round(e2e / decode_rate, 3),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))
    out_dir = Path(__file__).parent / "results"
    name = f"collector_e2e_rate{args.rate}_shards{args.shards}_workers{args.workers}.json"
    (out_dir / name).write_text(json.dumps(result, indent=2) + "\n")
    if stored != acked:
        raise SystemExit(f"MISMATCH: acknowledged {acked}, stored {stored}")


if __name__ == "__main__":
    main()
