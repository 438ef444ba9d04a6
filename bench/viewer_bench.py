"""Web viewer benchmark in real headless Chromium (Debian's, never a downloaded browser).

Starts `tasklogs serve` (chDB, in-process bus) on free ports, stores one task run of
``--lines`` lines (default 1,000,000, written by a real `tasklogs run`), then measures:

1. ``first_paint_ms``: navigation start to the first log row painted (``/tasks/{id}``);
2. ``jump_ms``: a permalink (``#L<n>``) to a far line, and a scrollbar drag to 30%, until
   the target rows are painted (no placeholder left in sight);
3. ``js_heap_mb``: ``performance.memory.usedJSHeapSize`` after the jumps;
4. following a task that logs ``--rate`` lines/s (default 5,000) for ``--seconds``: p50 and
   p95 frame times (requestAnimationFrame deltas) and the delay from a line's write in
   the task to its row in the DOM (an upper bound of "arrival at the page to painted").

Targets (issue 14): first paint < 300 ms, jump < 200 ms, heap < 150 MB, p95 frame < 20 ms,
lines in < 250 ms. Not run in CI. Results are printed and saved to
bench/results/viewer_bench.json.

    .venv/bin/python -m bench.viewer_bench [--lines 1000000] [--rate 5000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
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
const add = EventSource.prototype.addEventListener;
EventSource.prototype.addEventListener = function (type, fn, opts) {
  if (type === 'log') {
    const inner = fn;
    fn = function (ev) {
      const hit = /"body":"tick (\\d+)/.exec(ev.data);
      if (hit) window.__arrive.push(Date.now() - Number(hit[1]));
      return inner.call(this, ev);
    };
  }
  return add.call(this, type, fn, opts);
};
"""


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


def _measure_big(page: Page, api: str, tid: str, lines: int) -> dict[str, Any]:
    page.add_init_script(_OBSERVER)
    page.goto(f"{api}/tasks/{tid}")
    page.wait_for_function("window.__first !== undefined", timeout=60_000)
    first = float(page.evaluate("window.__first"))
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
    page.wait_for_function(
        "document.querySelectorAll('.rows .row.placeholder').length === 0"
        " && document.querySelectorAll('.rows .row[data-seq]').length > 0",
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
    page.goto(f"{api}/tasks/{tid}")
    proc.wait(timeout=seconds + 120)
    time.sleep(2)
    frames = [float(x) for x in page.evaluate("window.__frames")]
    lag = [float(x) for x in page.evaluate("window.__lag")]
    arrive = [float(x) for x in page.evaluate("window.__arrive")]
    q = statistics.quantiles
    return {
        "rate_lines_s": rate,
        "frames": len(frames),
        "frame_p50_ms": round(statistics.median(frames), 1) if frames else None,
        "frame_p95_ms": round(q(frames, n=20)[18], 1) if len(frames) > 20 else None,
        "lines_arrived": len(arrive),
        "line_to_page_p50_ms": round(statistics.median(arrive), 1) if arrive else None,
        "line_to_page_p95_ms": round(q(arrive, n=20)[18], 1) if len(arrive) > 20 else None,
        "rows_seen": len(lag),
        "line_to_dom_p50_ms": round(statistics.median(lag), 1) if lag else None,
        "line_to_dom_p95_ms": round(q(lag, n=20)[18], 1) if len(lag) > 20 else None,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--seconds", type=float, default=10)
    args = ap.parse_args()
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
        svc = start_serve(
            config, tmp / "data", grpc_port=grpc_port, api_port=api_port, log_path=tmp / "log"
        )
        try:
            started = time.monotonic()
            tid = _store(svc.grpc_endpoint, args.lines)
            _wait_stored(svc.api_url, tid, args.lines + 1)
            print(f"stored {args.lines} lines in {time.monotonic() - started:.1f} s", flush=True)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                # bypass_csp: wait_for_function evaluates strings, which the page's CSP
                # (rightly) refuses.
                big = _measure_big(browser.new_page(bypass_csp=True), svc.api_url, tid, args.lines)
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
    result = {"lines": args.lines, **big, "follow": follow}
    print(json.dumps(result, indent=2))
    out = REPO / "bench" / "results" / "viewer_bench.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
