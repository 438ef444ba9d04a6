"""Live-tail latency: from ``logger.info()`` in a task process to the SSE client.

Runs a real ``tasklogs serve`` (in-process bus by default, ``--redis URL`` for the Redis
Streams bus; ``--no-store`` leaves the chDB writer out) and measures, on the same clock:

1. ``probe``: a task process (``otel_sdk_ext.configure``) logs 100 lines/s, each body
   its ``time.time_ns()`` at ``logger.info()``; one SSE client on its task stream
   (opened before the task logs anything) records receive time minus that. With the
   SDK's default batch delay (25 ms), with 50 ms and with 5 ms (the SDK's delay is the
   largest share; the rest is the server).
2. ``loaded``: the same while a background sender pushes 20,000 lines/s (OTLP/gRPC,
   200-line Exports) into another task run of the same service.
3. ``clients``: N concurrent SSE clients (in two client processes) follow the probe
   task at 20 lines/s; N grows (x1.5 steps) until lines go missing or p50 passes 100 ms.

Each result also has the server process's CPU (user + system) per second while the
probe ran, and per line delivered to a client. The clients read in chunks (not per
line): they share the server's 2 cores, so their cost moves the server's figures.

    .venv/bin/python -m bench.live_latency [--seconds 8] [--redis redis://127.0.0.1:6379/0]
        [--no-store] [--only probe|clients] [--start-clients 200] [--max-clients 2000]
        [--clients 1000] [--gc-compare]

``--clients N``: only N clients (p50/p95/p99), no scaling steps. ``--gc-compare``: the
probes on a baseline service (``TASKLOGS_GC_TUNE=0``: CPython's stock collector, and
the publisher's former 5 ms linger), then on the defaults, in one run.

Prints and saves bench/results/live_latency.json (``_redis`` with --redis, then
``_clients<N>`` or ``_gc_compare``: e.g. live_latency_redis_clients1000.json). The
machine is shared and noisy: compare figures within one run, and see the load averages
(1, 5 and 15 min) saved with them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

RESULTS = Path(__file__).resolve().parent / "results" / "live_latency.json"
PROBE = r"""
import logging, sys, time
import otel_sdk_ext
tid, endpoint = sys.argv[1], sys.argv[2]
rate, seconds, delay = float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
otel_sdk_ext.configure(task_run_id=tid, pipeline_run_id="bench", endpoint=endpoint,
                       capture_output=False, schedule_delay_ms=delay or None)  # 0: the default
log = logging.getLogger("probe")
time.sleep(1.0)  # let the SSE clients attach
n = int(rate * seconds)
t0 = time.perf_counter()
for i in range(n):
    target = t0 + i / rate
    now = time.perf_counter()
    if target > now:
        time.sleep(target - now)
    log.info("%d", time.time_ns())
otel_sdk_ext.shutdown()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def service(
    redis_url: str | None, store: bool = True, *, baseline: bool = False
) -> Iterator[tuple[str, str, int]]:
    """``baseline``: the collector as CPython sets it (``TASKLOGS_GC_TUNE=0``) and the
    publisher's old 5 ms linger, to compare with the defaults in the same run."""
    with tempfile.TemporaryDirectory() as tmp:
        grpc_port, api_port = free_port(), free_port()
        cfg = Path(tmp, "c.yaml")
        text = (
            f'receivers: {{otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{grpc_port}"}}}}}}}}\n'
            f'api: {{endpoint: "127.0.0.1:{api_port}"}}\n'
            "extensions: {live_tail: {max_streams_per_tenant: 10000, heartbeat_s: 5"
            + (", publish_linger_ms: 5" if baseline else "")
            + "}}\n"
        )
        if not store:  # the live path alone: no chDB writer in the process
            text += (
                f"exporters: {{live_tail: {{batch: {{timeout_ms: {5 if baseline else 0}}}}}}}\n"
                "service: {pipelines: {logs: {receivers: [otlp], exporters: [live_tail]}}}\n"
            )
        prefix = f"bench-{uuid.uuid4().hex[:8]}"
        if redis_url:
            text += f'redis: {{url: "{redis_url}", key_prefix: "{prefix}"}}\n'
        cfg.write_text(text)
        tasklogs = Path(sys.executable).with_name("tasklogs")
        env = {**os.environ, "TASKLOGS_GC_TUNE": "0" if baseline else "1"}
        proc = subprocess.Popen(
            [str(tasklogs), "serve", "--config", str(cfg), "--data-dir", tmp],
            stderr=subprocess.DEVNULL,
            env=env,
        )
        try:
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{api_port}/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            yield f"127.0.0.1:{grpc_port}", f"127.0.0.1:{api_port}", proc.pid
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            if redis_url:
                _drop_keys(redis_url, prefix)


def _drop_keys(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i : i + 500])
    finally:
        client.close()


# -- SSE clients: raw sockets, minimal parsing -------------------------------------------


async def _client(api: str, tid: str, out: list[int]) -> None:
    """One SSE client: reads whatever arrived, stamps it once, finds the bodies.

    Reads in chunks rather than per line (a ``readline`` plus a timeout per SSE line
    costs the client processes, which share the server's 2 cores, more CPU than the
    server spends on the line); stopped by cancellation.
    """
    host, port = api.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"GET /api/v1/tasks/{tid}/logs/stream HTTP/1.1\r\nHost: b\r\n\r\n".encode())
    await writer.drain()
    marker = b'"body":"'
    rest = b""
    try:
        while True:
            data = await reader.read(1 << 16)
            if not data:
                return
            now = time.time_ns()
            data = rest + data
            end = data.rfind(b"\n\n")  # complete events only; keep a partial one
            if end < 0:
                rest = data
                continue
            block, rest = data[:end], data[end + 2 :]
            at = block.find(marker)
            while at >= 0:
                start = at + len(marker)
                stop = block.index(b'"', start)
                body = block[start:stop]
                if body.isdigit():
                    out.append(now - int(body))
                at = block.find(marker, stop)
    finally:
        writer.close()


async def _clients(api: str, tid: str, n: int, seconds: float, ready: Any) -> list[int]:
    out: list[int] = []
    tasks = [asyncio.create_task(_client(api, tid, out)) for _ in range(n)]
    await asyncio.sleep(0.5)
    if ready is not None:
        ready.set()
    await asyncio.sleep(seconds)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return out


def _client_proc(args: tuple[str, str, int, float], ready: Any, q: Any) -> None:
    api, tid, n, seconds = args
    q.put(asyncio.run(_clients(api, tid, n, seconds, ready)))


def run_clients(api: str, tid: str, n: int, seconds: float, procs: int) -> tuple[list[int], Any]:
    """Start ``n`` SSE clients over ``procs`` processes; returns a collector."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    readies = []
    ps = []
    for i in range(procs):
        share = n // procs + (1 if i < n % procs else 0)
        ev = ctx.Event()
        p = ctx.Process(target=_client_proc, args=((api, tid, share, seconds), ev, q))
        p.start()
        ps.append(p)
        readies.append(ev)
    for ev in readies:
        ev.wait(60)

    def collect() -> list[int]:
        lat: list[int] = []
        for _ in ps:
            lat.extend(q.get(timeout=seconds + 120))
        for p in ps:
            p.join(30)
        return lat

    return [], collect


# -- producers ----------------------------------------------------------------------------


def probe(
    endpoint: str, tid: str, rate: float, seconds: float, delay_ms: int
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            PROBE,
            tid,
            f"http://{endpoint}",
            str(rate),
            str(seconds),
            str(delay_ms),
        ],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )


BACKGROUND = r"""
import sys, time, grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
endpoint, rate, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
BATCH = 200
res = Resource(attributes=[
    KeyValue(key="service.name", value=AnyValue(string_value="bg")),
    KeyValue(key="cicd.pipeline.task.run.id", value=AnyValue(string_value="background")),
    KeyValue(key="cicd.pipeline.run.id", value=AnyValue(string_value="bg-run"))])
ch = grpc.insecure_channel(endpoint)
export = ch.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export")
seq, sent, t0 = 1, 0, time.perf_counter()
while time.perf_counter() - t0 < seconds:
    target = t0 + sent / rate
    now = time.perf_counter()
    if target > now:
        time.sleep(target - now)
    ts = time.time_ns()
    recs = [LogRecord(time_unix_nano=ts + i, severity_number=9, severity_text="INFO",
            body=AnyValue(string_value="background " + "x" * 150),
            attributes=[KeyValue(key="tasklogs.seq", value=AnyValue(int_value=seq + i))])
            for i in range(BATCH)]
    req = ExportLogsServiceRequest(resource_logs=[ResourceLogs(resource=res,
          scope_logs=[ScopeLogs(log_records=recs)])])
    try:
        export(req.SerializeToString(), timeout=10)
    except grpc.RpcError:
        time.sleep(0.01)
        continue
    seq += BATCH
    sent += BATCH
print(sent / (time.perf_counter() - t0), flush=True)
"""


def background(endpoint: str, rate: float, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", BACKGROUND, endpoint, str(rate), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stats(lat_ns: list[int]) -> dict[str, float]:
    if not lat_ns:
        return {"samples": 0}
    ms = sorted(x / 1e6 for x in lat_ns)

    def q(p: float) -> float:
        return round(ms[min(len(ms) - 1, int(p * len(ms)))], 2)

    return {
        "samples": len(ms),
        "p50_ms": q(0.5),
        "p95_ms": q(0.95),
        "p99_ms": q(0.99),
        "p999_ms": q(0.999),
        "max_ms": round(ms[-1], 2),
    }


def measure(
    svc: tuple[str, str, int],
    rate: float,
    seconds: float,
    *,
    delay: int,
    clients: int,
    procs: int,
) -> dict[str, float]:
    endpoint, api, pid = svc
    tid = f"probe-{uuid.uuid4().hex[:8]}"
    _, collect = run_clients(api, tid, clients, seconds + 2.5, procs)
    cpu0 = cpu_s(pid)
    p = probe(endpoint, tid, rate, seconds, delay)
    p.wait(seconds + 60)
    cpu = cpu_s(pid) - cpu0
    result = stats(collect())
    result["expected_samples"] = int(rate * seconds) * clients
    # The server's CPU while the probe ran (receiver, publisher, store, fan-out).
    result["server_cpu_s_per_s"] = round(cpu / seconds, 3)
    if result["samples"]:
        result["server_cpu_us_per_client_line"] = round(cpu / result["samples"] * 1e6, 1)
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--redis", default=None)
    ap.add_argument("--max-clients", type=int, default=2000)
    ap.add_argument("--start-clients", type=int, default=100)
    ap.add_argument("--no-store", action="store_true", help="run without the chDB writer")
    ap.add_argument("--only", choices=["probe", "clients"], default=None)
    ap.add_argument(
        "--clients",
        type=int,
        default=None,
        help="only N concurrent SSE clients on a 20 lines/s task (no scaling steps)",
    )
    ap.add_argument(
        "--gc-compare",
        action="store_true",
        help="the probes on a baseline service (stock GC, 5 ms publish linger), then on "
        "the defaults, in one run",
    )
    args = ap.parse_args()
    s = args.seconds
    out: dict[str, Any] = {"bus": "redis" if args.redis else "memory", "seconds_per_run": s}
    out["store"] = not args.no_store
    out["load_average_before"] = os.getloadavg()
    suffix = "_redis" if args.redis else ""
    if args.gc_compare:
        suffix += "_gc_compare"
        for name, baseline in (("baseline_stock_gc_linger_5ms", True), ("defaults", False)):
            with service(args.redis, store=not args.no_store, baseline=baseline) as svc:
                part: dict[str, Any] = {"load_average_before": os.getloadavg()}
                probes(part, svc, s)
                part["load_average_after"] = os.getloadavg()
                out[name] = part
                print(json.dumps({name: part}), flush=True)
    elif args.clients is not None:
        suffix += f"_clients{args.clients}"
        with service(args.redis, store=not args.no_store) as svc:
            r = measure(svc, 20, s, delay=5, clients=args.clients, procs=2)
            r["clients"] = args.clients
            out[f"clients_{args.clients}_at_20_lines_s"] = r
    else:
        with service(args.redis, store=not args.no_store) as svc:
            if args.only != "clients":
                probes(out, svc, s)
            if args.only != "probe":
                scale(out, svc, s, start=args.start_clients, most=args.max_clients)
    out["load_average_after"] = os.getloadavg()
    print(json.dumps(out, indent=2))
    path = RESULTS.with_name(f"live_latency{suffix}.json")
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")


def probes(out: dict[str, Any], svc: tuple[str, str, int], s: float) -> None:
    """One client on a 100 lines/s task; the SDK's default delay (25 ms), 50 ms and 5 ms;
    then under load."""
    out["probe_100_lines_s_sdk_default_delay"] = measure(svc, 100, s, delay=0, clients=1, procs=1)
    out["probe_100_lines_s_sdk_delay_50ms"] = measure(svc, 100, s, delay=50, clients=1, procs=1)
    out["probe_100_lines_s_sdk_delay_5ms"] = measure(svc, 100, s, delay=5, clients=1, procs=1)
    bg = background(svc[0], 20_000, s + 6)
    time.sleep(2)
    loaded = measure(svc, 100, s, delay=5, clients=1, procs=1)
    bg_out, _ = bg.communicate(timeout=120)
    loaded["background_lines_s"] = round(float(bg_out.strip() or 0))
    out["loaded_20k_lines_s_sdk_delay_5ms"] = loaded


def scale(
    out: dict[str, Any], svc: tuple[str, str, int], s: float, *, start: int, most: int
) -> None:
    """SSE clients on a 20 lines/s task, from 1 (the baseline of this noisy machine) up,
    until lines go missing or p50 passes 100 ms."""
    scaling = []
    steps = (start * 2**i * f for i in range(12) for f in (2, 3))  # x1, x1.5, x2, x3, ...
    levels = [1] + [n // 2 for n in steps if n // 2 <= most]
    for n in levels:
        r = measure(svc, 20, s, delay=5, clients=n, procs=1 if n == 1 else 2)
        r["clients"] = n
        scaling.append(r)
        print(json.dumps(r), flush=True)
        if r["samples"] < 0.95 * r["expected_samples"] or r.get("p50_ms", 1e9) >= 100:
            break
    out["clients_at_20_lines_s"] = scaling
    out.update(capacity(scaling))


def capacity(scaling: list[dict[str, Any]]) -> dict[str, int]:
    """The most clients with p99 (p50) under 100 ms at every level up to it: a level
    that passes after one that failed is luck on this noisy machine, not capacity."""
    found = {}
    for q in ("p99", "p50"):
        best = 0
        for r in scaling:
            if r.get(f"{q}_ms", 1e9) >= 100 or r["samples"] < 0.95 * r["expected_samples"]:
                break
            best = r["clients"]
        found[f"max_clients_{q}_under_100ms"] = best
    return found


if __name__ == "__main__":
    main()
