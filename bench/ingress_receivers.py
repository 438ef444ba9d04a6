"""Receiver cost per transport and encoding: OTLP/gRPC vs OTLP/HTTP (protobuf, gzip, zstd,
JSON), auth on and the identity rule on, into a sink that accepts everything.

The receivers run in a child process (one core's worth of Python, as in `tasklogs serve`);
this process sends 512-record Exports (~200-byte lines) from C concurrent clients and
measures records/s and the p99 Export latency per mode, and the ratio of each mode to
gRPC in the same run (the machine is shared and noisy: compare ratios, not absolutes).

    .venv/bin/python -m bench.ingress_receivers [--records 100000] [--concurrency 4]

Results are printed and saved to bench/results/ingress_receivers.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import http.client
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import urlsplit

import grpc
import zstandard
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs, SeverityNumber

from bench.common import free_port

BATCH = 512
TOKEN = "bench-token"  # noqa: S105 - a throwaway token for a local bench
METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"

SERVER = textwrap.dedent(
    """
    import asyncio, sys
    from collector_service.auth import Authenticator
    from collector_service.auth import AuthConfig, TenantConfig
    from collector_service.receivers.config import GrpcConfig, HttpConfig
    from collector_service.receivers import (
        Ingestor, OtlpGrpcReceiver, OtlpHttpReceiver, ReceiverSettings)

    class Null:
        async def submit(self, entry):
            pass

    async def main():
        auth = Authenticator(AuthConfig(tenants={"b": TenantConfig(tokens=[sys.argv[3]])}))
        ing = Ingestor(ReceiverSettings("otlp", require_task_identity=True), Null(), auth)
        g = OtlpGrpcReceiver(GrpcConfig(endpoint="127.0.0.1:" + sys.argv[1]), ing)
        h = OtlpHttpReceiver(HttpConfig(endpoint="127.0.0.1:" + sys.argv[2]), ing)
        await g.start()
        await h.start()
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


def make_request(task: int) -> ExportLogsServiceRequest:
    rl = ResourceLogs()
    rl.resource.attributes.extend(
        [
            KeyValue(key="service.name", value=AnyValue(string_value="bench")),
            KeyValue(key="cicd.pipeline.task.run.id", value=AnyValue(string_value=f"t-{task}")),
        ]
    )
    now = time.time_ns()
    records = [
        LogRecord(
            time_unix_nano=now + i,
            severity_number=SeverityNumber.SEVERITY_NUMBER_INFO,
            body=AnyValue(string_value=f"{'x' * 180} line {i}"),
            attributes=[KeyValue(key="tasklogs.seq", value=AnyValue(int_value=i + 1))],
        )
        for i in range(BATCH)
    ]
    rl.scope_logs.append(ScopeLogs(log_records=records))
    return ExportLogsServiceRequest(resource_logs=[rl])


def _json_body(req: ExportLogsServiceRequest) -> bytes:
    return json.dumps(json_format.MessageToDict(req)).encode()


async def run_mode(
    mode: str, bodies: list[bytes], grpc_target: str, http_url: str, concurrency: int
) -> dict[str, float]:
    latencies: list[float] = []
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    if mode.startswith("http"):
        headers["Content-Type"] = (
            "application/json" if mode == "http-json" else ("application/x-protobuf")
        )
        if mode in ("http-gzip", "http-zstd"):
            headers["Content-Encoding"] = mode.split("-")[1]

    async def grpc_worker() -> None:
        async with grpc.aio.insecure_channel(grpc_target) as channel:
            export = channel.unary_unary(METHOD)
            md = (("authorization", f"Bearer {TOKEN}"),)
            while not queue.empty():
                body = queue.get_nowait()
                t0 = time.perf_counter()
                await export(body, metadata=md, timeout=30)
                latencies.append(time.perf_counter() - t0)

    def http_worker() -> None:
        # http.client on threads: httpx's async client costs more per request than the
        # receiver does, and would measure itself.
        url = urlsplit(http_url)
        conn = http.client.HTTPConnection(url.hostname or "", url.port)
        try:
            while True:
                try:
                    body = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                t0 = time.perf_counter()
                conn.request("POST", url.path, body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"{mode}: HTTP {resp.status}")
                latencies.append(time.perf_counter() - t0)
        finally:
            conn.close()

    started = time.perf_counter()
    if mode == "grpc":
        await asyncio.gather(*(grpc_worker() for _ in range(concurrency)))
    else:
        await asyncio.gather(*(asyncio.to_thread(http_worker) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "records_per_s": round(len(bodies) * BATCH / elapsed),
        "p99_export_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        "wire_bytes_per_export": round(sum(len(b) for b in bodies) / len(bodies)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    n = max(1, args.records // BATCH)
    grpc_port, http_port = free_port(), free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(grpc_port), str(http_port), TOKEN],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    try:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == "ready"
        results = asyncio.run(
            run_all(n, f"127.0.0.1:{grpc_port}", f"http://127.0.0.1:{http_port}/v1/logs", args)
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    out = {
        "records": n * BATCH,
        "batch": BATCH,
        "concurrency": args.concurrency,
        "note": "receivers in one child process, auth + identity rule on, null sink; "
        "2-core machine shared with other work: compare ratios",
        "modes": results,
    }
    print(json.dumps(out, indent=2))
    path = Path(__file__).resolve().parent / "results" / "ingress_receivers.json"
    path.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")


async def run_all(
    n: int, grpc_target: str, http_url: str, args: argparse.Namespace
) -> dict[str, dict[str, float]]:
    requests = [make_request(i % 64) for i in range(n)]
    raw = [r.SerializeToString() for r in requests]
    zstd = zstandard.ZstdCompressor()
    modes = {
        "grpc": raw,
        "http-protobuf": raw,
        "http-gzip": [gzip.compress(b, 1) for b in raw],
        "http-zstd": [zstd.compress(b) for b in raw],
        "http-json": [_json_body(r) for r in requests],
    }
    results: dict[str, dict[str, float]] = {}
    for mode, bodies in modes.items():
        await run_mode(mode, bodies[:8], grpc_target, http_url, args.concurrency)  # warm up
        results[mode] = await run_mode(mode, bodies, grpc_target, http_url, args.concurrency)
    base = results["grpc"]["records_per_s"]
    for r in results.values():
        r["ratio_to_grpc"] = round(r["records_per_s"] / base, 3)
    return results


if __name__ == "__main__":
    main()
