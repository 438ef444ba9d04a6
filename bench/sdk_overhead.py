"""Producer cost: what otel_sdk_ext costs the task, against a real `tasklogs serve`.

1. Cost per log line in the producing thread, in a tight loop (a burst of ``--lines``):
   ``logging.info`` with the tasklogs handler (records exported for real, in the
   background, to a null OTLP receiver in this process) vs. a ``logging.NullHandler``
   and vs. the stock OTel handler (LoggingHandler + BatchLogRecordProcessor + gRPC
   exporter); ``print`` through the stdout tee vs. a plain stream. Wall time per line
   (what the task waits, GIL included) and the task thread's own CPU time. Each round
   is a fresh child process; with ``--baseline-src`` (another checkout's
   ``otel_sdk_ext/src``) that code is measured in the same run, rounds interleaved.
2. Latency under light load (100 lines/s): from the record's timestamp to the receiver's
   acknowledgement of the Export that carried it, p50/p99.
3. Highest sustained rate one task can emit with nothing dropped: a child process logs
   at a fixed pace for a few seconds, rate after rate; a rate counts when the child
   kept the pace (>= 95%), its end record says 0 dropped, nothing was left undelivered,
   and the service stored every line.

    .venv/bin/python -m bench.sdk_overhead [--lines 40000] [--seconds 10]
        [--baseline-src OTHER_CHECKOUT/otel_sdk_ext/src] [--rates 10000,20000,30000]

Printed and saved to bench/results/sdk_overhead.json. The machine is shared and noisy:
trust the ratios more than the absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support import free_port, tasklogs_cmd  # noqa: E402

RESULTS = REPO / "bench" / "results" / "sdk_overhead.json"


def start_service(tmp: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    grpc_port, api_port = free_port(), free_port()
    config = tmp / "tasklogs.yaml"
    config.write_text(
        f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc_port}"}}
exporters:
  clickhouse:
    batch: {{timeout_ms: 200}}
service:
  pipelines:
    logs: {{receivers: [otlp], exporters: [clickhouse]}}
api: {{endpoint: "127.0.0.1:{api_port}"}}
""",
        encoding="utf-8",
    )
    log = (tmp / "serve.log").open("wb")
    proc = subprocess.Popen(
        tasklogs_cmd("serve", "--config", str(config), "--data-dir", str(tmp / "data")),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    api = f"http://127.0.0.1:{api_port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{api}/readyz", timeout=1).status_code == 200:
                return proc, f"http://127.0.0.1:{grpc_port}", api
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("tasklogs serve did not start")


def stored_count(api: str, task_run_id: str) -> int:
    count, cursor = 0, None
    with httpx.Client(timeout=60) as client:
        while True:
            params: dict[str, Any] = {"limit": 5000}
            if cursor:
                params["cursor"] = cursor
            page = client.get(f"{api}/api/v1/tasks/{task_run_id}/logs", params=params).json()
            count += len(page["records"])
            cursor = page["next_cursor"]
            if not cursor:
                return count


# -- 1. cost per line -------------------------------------------------------------------

COST = textwrap.dedent(
    """
    import json, logging, os, sys, time
    src, endpoint, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if src:
        sys.path.insert(0, src)
        for name in [m for m in sys.modules if m.startswith("otel_sdk_ext")]:
            del sys.modules[name]
    import otel_sdk_ext
    log = logging.getLogger("bench.app")
    root = logging.getLogger()
    root.setLevel(logging.INFO)

    def timed(body):
        wall, cpu = time.perf_counter(), time.thread_time()
        body()
        return [(time.perf_counter() - wall) / n * 1e6, (time.thread_time() - cpu) / n * 1e6]

    def logs():
        for i in range(n):
            log.info("processing item %d of the batch", i)

    def prints():
        for i in range(n):
            print("processing item", i, "of the batch")

    out = {}
    null = logging.NullHandler()
    root.addHandler(null)
    out["null"] = timed(logs)
    root.removeHandler(null)

    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.instrumentation.logging.handler import LoggingHandler
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(
        BatchLogRecordProcessor(OTLPLogExporter(endpoint=endpoint, insecure=True))
    )
    stock = LoggingHandler(logger_provider=provider)
    root.addHandler(stock)
    out["stock"] = timed(logs)
    root.removeHandler(stock)
    provider.shutdown()

    real = sys.stdout
    sys.stdout = open(os.devnull, "w", encoding="utf-8")
    out["print"] = timed(prints)
    tl = otel_sdk_ext.configure(task_run_id="bench-cost", endpoint=endpoint, handle_sigterm=False)
    out["tasklogs"] = timed(logs)
    out["print_tee"] = timed(prints)
    tl.flush(60)
    out["dropped"] = tl.dropped_records
    tl.shutdown()
    sys.stdout = real
    print(json.dumps(out))
    """
)


class NullReceiver:
    """An OTLP/gRPC logs receiver that accepts and discards every Export."""

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        import grpc

        def export(request: bytes, context: Any) -> bytes:
            self.received += 1
            return b""

        self.received = 0
        handler = grpc.method_handlers_generic_handler(
            "opentelemetry.proto.collector.logs.v1.LogsService",
            {"Export": grpc.unary_unary_rpc_method_handler(export)},
        )
        self._server = grpc.server(ThreadPoolExecutor(max_workers=2))
        self._server.add_generic_rpc_handlers((handler,))
        port = free_port()
        self._server.add_insecure_port(f"127.0.0.1:{port}")
        self._server.start()
        self.endpoint = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self._server.stop(1)


def _cost_round(src: str, endpoint: str, n: int) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TASKLOGS_"))}
    proc = subprocess.run(
        [sys.executable, "-c", COST, src, endpoint, str(n)],
        env=env,
        capture_output=True,
        timeout=600,
        check=True,
    )
    result: dict[str, Any] = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    return result


def per_line_cost(n: int, rounds: int, baseline_src: str | None) -> dict[str, Any]:
    receiver = NullReceiver()
    variants = {"this": ""} | ({"baseline": baseline_src} if baseline_src else {})
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    loads = [os.getloadavg()[0]]
    try:
        for _ in range(rounds):
            for name, src in variants.items():
                runs[name].append(_cost_round(src, receiver.endpoint, n))
                loads.append(os.getloadavg()[0])
    finally:
        receiver.stop()
    out: dict[str, Any] = {
        "lines_per_round": n,
        "rounds": rounds,
        "receiver": "null OTLP/gRPC receiver (accept and discard)",
        "load_average_1m": [round(x, 2) for x in loads],
    }
    for name, results in runs.items():

        def med(key: str, i: int, results: list[dict[str, Any]] = results) -> float:
            return float(statistics.median(float(r[key][i]) for r in results))

        null, stock, tasklogs = med("null", 0), med("stock", 0), med("tasklogs", 0)
        plain, tee = med("print", 0), med("print_tee", 0)
        out[name] = {
            "logging_null_handler_us": round(null, 2),
            "logging_stock_otel_us": round(stock, 2),
            "logging_tasklogs_us": round(tasklogs, 2),
            "logging_tasklogs_above_null_us": round(tasklogs - null, 2),
            "logging_stock_above_null_us": round(stock - null, 2),
            "logging_tasklogs_vs_stock_ratio": round((tasklogs - null) / (stock - null), 2),
            "logging_tasklogs_task_cpu_above_null_us": round(
                med("tasklogs", 1) - med("null", 1), 2
            ),
            "print_plain_us": round(plain, 2),
            "print_captured_us": round(tee, 2),
            "print_captured_above_plain_us": round(tee - plain, 2),
            "print_captured_task_cpu_above_plain_us": round(
                med("print_tee", 1) - med("print", 1), 2
            ),
            "dropped": sum(int(r["dropped"]) for r in results),
        }
    return out


# -- 2. latency under light load --------------------------------------------------------


def light_load_latency(endpoint: str, lines: int = 300, per_s: float = 100) -> dict[str, Any]:
    from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult

    import otel_sdk_ext
    from otel_sdk_ext._exporters import build_exporter
    from otel_sdk_ext.settings import Settings

    inner = build_exporter(Settings.from_env(endpoint=endpoint))
    latencies_ms: list[float] = []

    class Timed(LogRecordExporter):
        def export(self, batch: Any) -> LogRecordExportResult:
            result = inner.export(batch)
            acked = time.time_ns()
            if result == LogRecordExportResult.SUCCESS:
                latencies_ms.extend((acked - r.log_record.timestamp) / 1e6 for r in batch)
            return result

        def shutdown(self) -> None:
            inner.shutdown()  # type: ignore[no-untyped-call]

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return True

    tl = otel_sdk_ext.configure(
        task_run_id=f"bench-latency-{uuid.uuid4()}",
        capture_output=False,
        handle_sigterm=False,
        _exporter=Timed(),
    )
    log = logging.getLogger("bench.latency")
    try:
        for i in range(lines):
            log.info("light load line %d", i)
            time.sleep(1 / per_s)
        tl.flush(30)
    finally:
        tl.shutdown()
    latencies_ms.sort()
    return {
        "lines": lines,
        "lines_per_s": per_s,
        "schedule_delay_ms": tl.settings.schedule_delay_ms,
        "p50_ms": round(latencies_ms[len(latencies_ms) // 2], 1),
        "p99_ms": round(latencies_ms[int(len(latencies_ms) * 0.99)], 1),
        "max_ms": round(latencies_ms[-1], 1),
    }


# -- 3. sustained rate ------------------------------------------------------------------

PACED = textwrap.dedent(
    """
    import json, logging, sys, time
    import otel_sdk_ext
    rate, seconds = float(sys.argv[1]), float(sys.argv[2])
    log = logging.getLogger("bench.paced")
    n = int(rate * seconds)
    with otel_sdk_ext.task(capture_output=False, flush_timeout_s=60) as tl:
        started = time.perf_counter()
        for i in range(n):
            if i % 256 == 0:
                ahead = started + i / rate - time.perf_counter()
                if ahead > 0:
                    time.sleep(ahead)
            log.info("paced line %d of the run", i)
        elapsed = time.perf_counter() - started
    print(json.dumps({
        "lines": n, "elapsed": elapsed, "dropped": tl.dropped_records,
        "undelivered": tl.undelivered_records,
    }), file=sys.stderr)
    """
)


def sustained(endpoint: str, api: str, rate: int, seconds: float) -> dict[str, Any]:
    run_id = f"bench-rate-{uuid.uuid4()}"
    env = {**os.environ, "PYTHONPATH": str(REPO), "TASKLOGS_TASK_RUN_ID": run_id}
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    proc = subprocess.run(
        [sys.executable, "-c", PACED, str(rate), str(seconds)],
        env=env,
        capture_output=True,
        timeout=600,
        check=False,
    )
    stats = json.loads(proc.stderr.decode().strip().splitlines()[-1])
    achieved = stats["lines"] / stats["elapsed"]
    expected = stats["lines"] + 2  # + start and end records
    deadline = time.monotonic() + 120
    stored = stored_count(api, run_id)
    while stored < expected and time.monotonic() < deadline:
        time.sleep(1)
        stored = stored_count(api, run_id)
    ok = (
        achieved >= 0.95 * rate
        and stats["dropped"] == 0
        and stats["undelivered"] == 0
        and stored == expected
    )
    return {
        "target_lines_per_s": rate,
        "achieved_lines_per_s": round(achieved),
        "dropped": stats["dropped"],
        "undelivered": stats["undelivered"],
        "stored": stored,
        "expected": expected,
        "ok": ok,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=40000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--rates", default="10000,20000,30000,40000,60000,80000", help="lines/s to try"
    )
    parser.add_argument(
        "--baseline-src", default=None, help="another checkout's otel_sdk_ext/src to compare"
    )
    args = parser.parse_args()
    cost = per_line_cost(args.lines, args.rounds, args.baseline_src)
    print(json.dumps(cost, indent=2), flush=True)
    with tempfile.TemporaryDirectory(prefix="tasklogs-bench-sdk-") as tmp:
        service, endpoint, api = start_service(Path(tmp))
        try:
            latency = light_load_latency(endpoint)
            print(json.dumps(latency), flush=True)
            steps = []
            for rate in (int(r) for r in args.rates.split(",")):
                step = sustained(endpoint, api, rate, args.seconds)
                step["load_average_1m"] = round(os.getloadavg()[0], 2)
                print(json.dumps(step), flush=True)
                steps.append(step)
                if not step["ok"]:
                    break
        finally:
            service.send_signal(signal.SIGTERM)
            service.wait(timeout=60)
    best = max((s["target_lines_per_s"] for s in steps if s["ok"]), default=0)
    result = {
        "benchmark": "sdk_overhead",
        "cpu_count": os.cpu_count(),
        "note": "2 shared cores, 6 engineers: noisy; compare ratios",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "per_line_cost": cost,
        "light_load_latency": latency,
        "sustained_steps": steps,
        "max_sustained_lines_per_s_nothing_dropped": best,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({"max_sustained_lines_per_s_nothing_dropped": best}))


if __name__ == "__main__":
    main()
