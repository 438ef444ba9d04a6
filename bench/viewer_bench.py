"""Web viewer benchmark in real headless Chromium (Debian's, never a downloaded browser).

Stores one task run of ``--lines`` lines (default 1,000,000) and starts `tasklogs serve`
(chDB, in-process bus) on free ports. The lines are inserted straight into the store
(``INSERT ... SELECT FROM numbers()`` through the exporter's own schema and the runs
index's materialized view, by a child process before the service opens the chDB
directory: ~10 s for a million lines, where `tasklogs run -- seq N` takes minutes);
``--via-run`` writes them with a real `tasklogs run` instead. Then it measures:

1. ``first_paint_ms``: navigation start to the first log row painted (``/tasks/{id}``),
   as a user arrives: from the Runs page (the just-launched browser's first page), the
   service reading this log for the first time since it started;
2. ``jump_ms``: a permalink (``#L<n>``) to the middle line, and a scrollbar drag to 30%,
   until the target rows are painted (lines near 30% in sight, no placeholder left);
3. ``js_heap_mb``: ``performance.memory.usedJSHeapSize`` after the jumps;
4. following a task that logs ``--rate`` lines/s (default 5,000) for ``--seconds``: p50 and
   p95 frame times (requestAnimationFrame deltas); ``arrival_to_dom``: from a line's SSE
   event at the page to its row in the DOM (the target's "lines appear within 250 ms of
   arrival at the page"; lines that scroll past within one frame are never painted and
   not counted); and, for the whole pipeline, from the line's write in the task to its
   event at the page (``line_to_page``) and to its row (``line_to_dom``): these include
   the `tasklogs run` wrapper, the receiver and the bus, and grow with the machine's load.

Targets (issue 14): first paint < 300 ms, jump < 200 ms, heap < 150 MB, p95 frame < 20 ms,
lines in < 250 ms. Not run in CI. Results are printed and saved to
bench/results/viewer_bench.json.

    .venv/bin/python -m bench.viewer_bench [--lines 1000000] [--rate 5000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, sync_playwright

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support import free_port, start_serve, tasklogs_cmd  # noqa: E402

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--enable-precise-memory-info",
]  # fmt: skip

# Records when the first row, and rows with given seqs, appear (performance.now()).
_OBSERVER = """
window.__seen = {};
new MutationObserver(() => {
  const now = performance.now();
  for (const el of document.querySelectorAll('.rows .row[data-seq]:not(.placeholder)')) {
    const s = el.dataset.seq;
    if (!(s in window.__seen)) window.__seen[s] = now;
    if (window.__first === undefined) window.__first = now;
  }
}).observe(document, {subtree: true, childList: true});
"""

_FRAMES = """
window.__frames = [];
(function loop(last) {
  requestAnimationFrame((t) => { if (last) window.__frames.push(t - last); loop(t); });
})(0);
window.__lag = [];
new MutationObserver((muts) => {
  const now = Date.now();
  for (const m of muts) for (const n of m.addedNodes) {
    const t = n.querySelector && n.querySelector('.msg');
    const hit = t && /^tick (\\d+)/.exec(t.textContent);
    if (hit) window.__lag.push(now - Number(hit[1]));
  }
}).observe(document, {subtree: true, childList: true});
window.__arrive = [];
// Arrival at the page (the EventSource event) to the row in the DOM, per line.
window.__arrivedAt = new Map();
window.__paint = [];
new MutationObserver((muts) => {
  const now = performance.now();
  for (const m of muts) for (const n of m.addedNodes) {
    const t = n.querySelector && n.querySelector('.msg');
    const hit = t && / line (\\d+)$/.exec(t.textContent);
    const at = hit && window.__arrivedAt.get(hit[1]);
    if (at !== undefined && at !== null) {
      window.__paint.push(now - at);
      window.__arrivedAt.delete(hit[1]);
    }
  }
}).observe(document, {subtree: true, childList: true});
const add = EventSource.prototype.addEventListener;
EventSource.prototype.addEventListener = function (type, fn, opts) {
  if (type === 'log') {
    const inner = fn;
    fn = function (ev) {
      const hit = /"body":"tick (\\d+)/.exec(ev.data);
      if (hit) window.__arrive.push(Date.now() - Number(hit[1]));
      const n = / line (\\d+)"/.exec(ev.data);
      if (n) window.__arrivedAt.set(n[1], performance.now());
      return inner.call(this, ev);
    };
  }
  return add.call(this, type, fn, opts);
};
"""


# One task run of ``lines`` lines, generated inside the engine as a writer's inserts go
# (through the runs index's materialized view): seq 1..N, a stderr ERROR every 997th
# line, the task's end record last, one line per millisecond up to now.
_GENERATE = """
INSERT INTO {table} (Timestamp, SeverityText, SeverityNumber, ServiceName, Body,
                     ResourceAttributes, ScopeName, LogAttributes, EventName)
SELECT
    fromUnixTimestamp64Nano(toInt64({start:Int64} + number * 1000000)),
    if(number % 997 = 996, 'ERROR', 'INFO'),
    if(number % 997 = 996, 17, 9),
    'bench',
    if(number + 1 = {n:UInt64}, 'task ended',
       concat('line ', toString(number + 1), ' of the bench task, some text to read')),
    map('service.name', 'bench', 'cicd.pipeline.name', 'bench',
        'cicd.pipeline.run.id', concat('run-', {tid:String}),
        'cicd.pipeline.task.run.id', {tid:String}, 'cicd.pipeline.task.name', 'big'),
    if(number % 997 = 996, 'tasklogs.stderr', 'tasklogs.stdout'),
    if(number + 1 = {n:UInt64},
       map('tasklogs.seq', toString(number + 1), 'cicd.pipeline.task.run.result', 'success',
           'process.exit.code', '0'),
       map('tasklogs.seq', toString(number + 1),
           'log.iostream', if(number % 997 = 996, 'stderr', 'stdout'))),
    if(number + 1 = {n:UInt64}, 'tasklogs.task.end', '')
FROM numbers({n:UInt64})
"""


def _generate_into(data_dir: Path, tid: str, lines: int) -> None:
    """In this process: the store under ``data_dir`` (as `tasklogs serve` opens it)."""
    from tasklogs_clickhouse import ClickHouseConfig, ClickHouseExporter

    store = ClickHouseExporter(ClickHouseConfig(), f"chdb://{(data_dir / 'chdb').resolve()}")
    store.start()
    try:
        store._require_client().command(
            _GENERATE.replace("{table}", store.schema.table),
            parameters={"start": time.time_ns() - lines * 1_000_000, "n": lines, "tid": tid},
        )
    finally:
        store.shutdown()


def _generate(data_dir: Path, lines: int) -> str:
    """A task run of ``lines`` lines inserted straight into the store, by a child process
    (one process owns one chDB directory), before the service opens it."""
    tid = f"bench-{uuid.uuid4().hex[:8]}"
    data_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, __file__, "--generate-into", str(data_dir), tid, str(lines)]
    subprocess.run(cmd, check=True)
    return tid


def _store(svc_grpc: str, lines: int) -> str:
    tid = f"bench-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        tasklogs_cmd("run", "--task-run-id", tid, "--endpoint", svc_grpc, "--", "seq", str(lines)),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return tid


def _wait_stored(api: str, tid: str, last_seq: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = httpx.get(
            f"{api}/api/v1/tasks/{tid}/logs",
            params={"cursor": f"{last_seq - 1}-9223372036854775807", "limit": 1},
            timeout=30,
        ).json()
        if page["records"]:
            return
        time.sleep(1)
    raise SystemExit(f"{tid}: line {last_seq} not stored within {timeout} s")


def _painted(page: Page, seq: int, timeout_s: float = 30) -> float:
    page.wait_for_function(f"window.__seen && ('{seq}' in window.__seen)", timeout=timeout_s * 1000)
    return float(page.evaluate(f"window.__seen['{seq}']"))


def _first_paint(page: Page, url: str) -> float:
    page.goto(url)
    page.wait_for_function("window.__first !== undefined", timeout=60_000)
    return float(page.evaluate("window.__first"))


def _measure_big(page: Page, api: str, tid: str, lines: int) -> dict[str, Any]:
    # As a user arrives: the Runs page first (the just-launched browser's first page; the
    # service reads the runs index, never this log), then the task page, whose tail the
    # service reads for the first time since it started.
    page.add_init_script(_OBSERVER)
    page.goto(f"{api}/")
    page.wait_for_load_state("load")
    first = _first_paint(page, f"{api}/tasks/{tid}")
    # Permalink to the middle of the log.
    target = lines // 2
    t0 = float(
        page.evaluate(f"(() => {{ location.hash = '#L{target}'; return performance.now(); }})()")
    )
    jump = _painted(page, target) - t0
    # Scrollbar to 30%: wait until no placeholder is in sight.
    t1 = float(
        page.evaluate(
            "(() => { const s = document.querySelector('.scroller');"
            " s.scrollTop = (s.scrollHeight - s.clientHeight) * 0.3; return performance.now(); })()"
        )
    )
    # Painted: the rows in sight are lines near 30% of the log, none of them a placeholder
    # (the rows of the permalink's place stay in sight until the scroll is rendered).
    lo, hi = int(lines * 0.25), int(lines * 0.35)
    page.wait_for_function(
        "(() => { const rows = document.querySelectorAll('.rows .row[data-seq]');"
        " if (!rows.length || document.querySelector('.rows .row.placeholder')) return false;"
        f" const s = Number(rows[0].dataset.seq); return s > {lo} && s < {hi}; }})()",
        timeout=30_000,
    )
    drag = float(page.evaluate("performance.now()")) - t1
    heap = float(page.evaluate("performance.memory ? performance.memory.usedJSHeapSize : 0"))
    return {
        "first_paint_ms": round(first, 1),
        "jump_permalink_ms": round(jump, 1),
        "jump_scrollbar_ms": round(drag, 1),
        "js_heap_mb": round(heap / 2**20, 1),
    }


def _measure_follow(page: Page, api: str, grpc: str, rate: int, seconds: float) -> dict[str, Any]:
    tid = f"follow-{uuid.uuid4().hex[:8]}"
    producer = (
        "import sys, time\n"
        f"rate, secs = {rate}, {seconds}\n"
        "n, start = 0, time.monotonic()\n"
        "while time.monotonic() - start < secs:\n"
        "    due = int((time.monotonic() - start) * rate)\n"
        "    while n < due:\n"
        "        n += 1\n"
        "        sys.stdout.write(f'tick {int(time.time() * 1000)} line {n}\\n')\n"
        "    sys.stdout.flush()\n"
        "    time.sleep(0.005)\n"
    )
    # The task starts first (so the page follows a live task), then the lines come.
    proc = subprocess.Popen(
        tasklogs_cmd(
            "run", "--task-run-id", tid, "--endpoint", grpc, "--",
            sys.executable, "-c", "import time; time.sleep(2)\n" + producer,
        ),
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    page.add_init_script(_FRAMES)
    # The page opens the task once it is live (a page opened before it polls for it
    # every 3 s and would start with a backlog).
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        resp = httpx.get(f"{api}/api/v1/tasks/{tid}/logs", params={"limit": 1})
        if resp.status_code == 200 and resp.json()["records"]:
            break
        time.sleep(0.05)
    page.goto(f"{api}/tasks/{tid}")
    proc.wait(timeout=seconds + 120)
    time.sleep(2)
    frames = [float(x) for x in page.evaluate("window.__frames")]
    lag = [float(x) for x in page.evaluate("window.__lag")]
    arrive = [float(x) for x in page.evaluate("window.__arrive")]
    paint = [float(x) for x in page.evaluate("window.__paint")]
    q = statistics.quantiles
    return {
        "rate_lines_s": rate,
        "frames": len(frames),
        "frame_p50_ms": round(statistics.median(frames), 1) if frames else None,
        "frame_p95_ms": round(q(frames, n=20)[18], 1) if len(frames) > 20 else None,
        "lines_arrived": len(arrive),
        "line_to_page_p50_ms": round(statistics.median(arrive), 1) if arrive else None,
        "line_to_page_p95_ms": round(q(arrive, n=20)[18], 1) if len(arrive) > 20 else None,
        "rows_painted": len(paint),
        "arrival_to_dom_p50_ms": round(statistics.median(paint), 1) if paint else None,
        "arrival_to_dom_p95_ms": round(q(paint, n=20)[18], 1) if len(paint) > 20 else None,
        "rows_seen": len(lag),
        "line_to_dom_p50_ms": round(statistics.median(lag), 1) if lag else None,
        "line_to_dom_p95_ms": round(q(lag, n=20)[18], 1) if len(lag) > 20 else None,
    }


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--generate-into":
        _generate_into(Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument(
        "--via-run", action="store_true", help="store the lines with `tasklogs run -- seq N`"
    )
    args = ap.parse_args()
    load_before = round(os.getloadavg()[0], 1)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        grpc_port, api_port = free_port(), free_port()
        config = tmp / "tasklogs.yaml"
        config.write_text(
            f"""
receivers: {{otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{grpc_port}"}}}}}}}}
exporters: {{clickhouse: {{batch: {{timeout_ms: 200}}}}}}
service: {{pipelines: {{logs: {{receivers: [otlp], exporters: [clickhouse]}}}}}}
api: {{endpoint: "127.0.0.1:{api_port}"}}
""",
            encoding="utf-8",
        )
        if not args.via_run:
            started = time.monotonic()
            tid = _generate(tmp / "data", args.lines)
            print(f"generated {args.lines} lines in {time.monotonic() - started:.1f} s")
        svc = start_serve(
            config, tmp / "data", grpc_port=grpc_port, api_port=api_port, log_path=tmp / "log"
        )
        try:
            if args.via_run:
                started = time.monotonic()
                tid = _store(svc.grpc_endpoint, args.lines)
                _wait_stored(svc.api_url, tid, args.lines + 1)
                print(f"stored {args.lines} lines in {time.monotonic() - started:.1f} s")
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                # bypass_csp: wait_for_function evaluates strings, which the page's CSP
                # (rightly) refuses.
                big = _measure_big(browser.new_page(bypass_csp=True), svc.api_url, tid, args.lines)
                print(json.dumps(big), flush=True)
                follow = _measure_follow(
                    browser.new_page(bypass_csp=True),
                    svc.api_url,
                    svc.grpc_endpoint,
                    args.rate,
                    args.seconds,
                )
                browser.close()
        finally:
            svc.process.terminate()
            svc.process.wait(timeout=60)
    result = {
        "lines": args.lines,
        "load_average_1m_before": load_before,
        "load_average_1m_after": round(os.getloadavg()[0], 1),
        **big,
        "follow": follow,
    }
    print(json.dumps(result, indent=2))
    out = REPO / "bench" / "results" / "viewer_bench.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
