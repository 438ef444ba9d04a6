"""GC pauses of a started ``tasklogs serve`` heap: CPython's stock collector against
:func:`collector_service.gc_tune.settle_heap`, each in a fresh process.

Each child starts a real :class:`~collector_service.service.lifecycle.Service` (the
embedded default: chDB store, live tail, API) in process, stores one batch (the store's
lazy imports land in the heap as they do in service), optionally settles the heap, then
churns the allocator the way a busy event loop does (short-lived dicts, lists and
reference cycles) for ``--seconds`` and records every collection's pause with
``gc.callbacks``. The live tail's periodic stall is the full (generation 2) pass.

    .venv/bin/python -m bench.gc_pause [--seconds 10] [--gen0 700 14000]

Prints and saves bench/results/gc_pause.json with the load averages.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "gc_pause.json"

CHILD = r"""
import asyncio, gc, json, sys, tempfile, time
from pathlib import Path
settle, seconds, gen0 = sys.argv[1] == "1", float(sys.argv[2]), int(sys.argv[3])

async def main():
    from collector_service.service.config import load_config
    from collector_service.service.lifecycle import Service
    from collector_service.component.model import LogBatch
    from collector_service.gc_tune import settle_heap
    from tests.support import free_port
    tmp = tempfile.mkdtemp()
    cfg = Path(tmp, "c.yaml")
    cfg.write_text(
        f'receivers: {{otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{free_port()}"}}}}}}}}\n'
        f'api: {{endpoint: "127.0.0.1:{free_port()}"}}\n')
    svc = Service(load_config(cfg, data_dir=Path(tmp)))
    await svc.start()
    # The store's first insert imports what it needs lazily: do it before measuring.
    from collector_service.component.decode import decode_request
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
    res = Resource(attributes=[KeyValue(key="cicd.pipeline.task.run.id",
                                        value=AnyValue(string_value="gc"))])
    recs = [LogRecord(time_unix_nano=time.time_ns(), body=AnyValue(string_value="x"))]
    req = ExportLogsServiceRequest(resource_logs=[ResourceLogs(resource=res,
                                   scope_logs=[ScopeLogs(log_records=recs)])])
    for r in svc.runners:
        await r.handle.push(decode_request(req))
    if settle:
        settle_heap()
        if gen0:
            gc.set_threshold(gen0, *gc.get_threshold()[1:])
    pauses = {0: [], 1: [], 2: []}
    start = [0.0]
    def cb(phase, info):
        if phase == "start":
            start[0] = time.perf_counter()
        else:
            pauses[info["generation"]].append((time.perf_counter() - start[0]) * 1e3)
    gc.callbacks.append(cb)
    t0 = time.perf_counter()
    keep = []
    n = 0
    while time.perf_counter() - t0 < seconds:
        for _ in range(1000):
            a = {"body": "x" * 20, "attrs": [n, n + 1]}
            b = [a]
            a["self"] = b  # a cycle: what only the collector frees
            keep.append(a)
            n += 1
        if len(keep) > 2000:  # a few requests' worth in flight, the rest garbage
            keep = keep[1000:]
        await asyncio.sleep(0)
    gc.callbacks.remove(cb)
    objects = len(gc.get_objects()) + gc.get_freeze_count()
    await svc.stop(timeout=5)
    out = {"heap_objects": objects, "frozen": gc.get_freeze_count(),
           "threshold": list(gc.get_threshold()), "allocated_k": n // 1000}
    for g, ms in pauses.items():
        ms.sort()
        out[f"gen{g}"] = {"count": len(ms), "max_ms": round(ms[-1], 2) if ms else 0,
                          "median_ms": round(ms[len(ms) // 2], 3) if ms else 0,
                          "total_ms": round(sum(ms), 1)}
    print(json.dumps(out))

asyncio.run(main())
"""


def child(settle: bool, seconds: float, gen0: int = 0) -> dict[str, Any]:
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), "TASKLOGS_GC_TUNE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, "1" if settle else "0", str(seconds), str(gen0)],
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=True,
        cwd=root,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--gen0", type=int, nargs="*", default=[700, 14000], help="also try these")
    args = ap.parse_args()
    out: dict[str, Any] = {"seconds": args.seconds, "load_average_before": os.getloadavg()}
    out["stock_gc"] = child(False, args.seconds)
    out["settled_heap"] = child(True, args.seconds)
    for gen0 in args.gen0:  # other young thresholds, for the choice of GEN0_THRESHOLD
        out[f"settled_heap_gen0_{gen0}"] = child(True, args.seconds, gen0)
    out["load_average_after"] = os.getloadavg()
    print(json.dumps(out, indent=2))
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
