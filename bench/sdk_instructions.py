"""Producer cost in machine instructions (valgrind callgrind): independent of the load.

On a shared machine the wall and CPU times of ``bench.sdk_overhead`` move by 2x with
the load average; the instructions a line costs do not. A child process configures
otel_sdk_ext with an exporter that discards the encoded requests (no network), writes
``--lines`` lines (``print`` through the stdout tee, or ``logging.info``), flushes and
shuts down; the same child with 0 lines is subtracted. Every thread is counted (the
task thread and the export thread, which numbers and encodes): per line, everything
the producer runs on the GIL. ``plain`` is a ``print`` to /dev/null with no capture.

    .venv/bin/python -m bench.sdk_instructions [--lines 10000]
        [--baseline-src OTHER_CHECKOUT/otel_sdk_ext/src]

Needs ``valgrind``. Printed and saved to bench/results/sdk_instructions.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "sdk_instructions.json"

CHILD = textwrap.dedent(
    """
    import logging, os, sys
    src, n, what = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if src:
        sys.path.insert(0, src)
    from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
    import otel_sdk_ext

    class Discard(LogRecordExporter):
        def export_encoded(self, payload, count):
            return LogRecordExportResult.SUCCESS
        def export(self, batch):
            return LogRecordExportResult.SUCCESS
        def shutdown(self):
            pass
        def force_flush(self, timeout_millis=30000):
            return True

    sys.stdout = open(os.devnull, "w", encoding="utf-8")
    if what != "plain":
        tl = otel_sdk_ext.configure(task_run_id="instr", _exporter=Discard(), handle_sigterm=False)
    log = logging.getLogger("bench.app")
    print("warm up")
    if what == "logging":
        for i in range(n):
            log.info("processing item %d of the batch", i)
    else:
        for i in range(n):
            print("processing item", i, "of the batch")
    if what != "plain":
        tl.flush(60)
        assert tl.dropped_records == 0
        tl.shutdown()
    """
)


def _instructions(src: str, n: int, what: str) -> int:
    with tempfile.TemporaryDirectory(prefix="tasklogs-instr-") as tmp:
        proc = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={tmp}/out",
                sys.executable,
                "-c",
                CHILD,
                src,
                str(n),
                what,
            ],
            capture_output=True,
            timeout=900,
            check=True,
        )
    found = re.search(rb"Collected : (\d+)", proc.stderr)
    if found is None:
        raise SystemExit(proc.stderr.decode(errors="replace")[-2000:])
    return int(found.group(1))


class PerLine:
    """Instructions per line: a run with ``n`` lines less one with none, started in
    parallel on ``pool`` (counts do not depend on the load)."""

    def __init__(self, pool: ThreadPoolExecutor, src: str, n: int, what: str) -> None:
        self._n = n
        self._with = pool.submit(_instructions, src, n, what)
        self._without = pool.submit(_instructions, src, 0, what)

    def result(self) -> int:
        return round((self._with.result() - self._without.result()) / self._n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10000)
    parser.add_argument(
        "--baseline-src", default=None, help="another checkout's otel_sdk_ext/src to compare"
    )
    args = parser.parse_args()
    variants = {"this": ""} | ({"baseline": args.baseline_src} if args.baseline_src else {})
    with ThreadPoolExecutor(max_workers=4) as pool:
        plain = PerLine(pool, "", args.lines, "plain")
        runs = {
            name: {what: PerLine(pool, src, args.lines, what) for what in ("print", "logging")}
            for name, src in variants.items()
        }
        out: dict[str, Any] = {
            "benchmark": "sdk_instructions",
            "lines": args.lines,
            "unit": "instructions per line, all threads (valgrind callgrind)",
            "plain_print": plain.result(),
        }
        for name, figures in runs.items():
            out[name] = {what: f.result() for what, f in figures.items()}
            out[name]["print_above_plain"] = out[name]["print"] - out["plain_print"]
    out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
