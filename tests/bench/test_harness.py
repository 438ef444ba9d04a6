"""The benchmark harness runs end to end at its smallest size and writes its results.

``python -m bench all --quick`` starts the embedded configuration and rotel's blackhole,
drives both over OTLP/gRPC and OTLP/HTTP for a second or two, measures the references and
saves the JSON, the plots and (``--profile``) the py-spy profiles. No figure is checked:
numbers belong to bench/, not to tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
PLOTS = ("throughput_vs_load.png", "latency_vs_load.png", "rss_over_time.png")


def test_quick_run_writes_json_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "all", "--quick", "--profile", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((out / "harness.json").read_text())
    assert result["failures"] == {}
    assert {(r["target"], r["transport"]) for r in result["runs"]} == {
        (target, transport)
        for target in ("embedded", "rotel-blackhole")
        for transport in ("grpc", "http")
    }
    assert {"protobuf_parse_lines_per_s", "columnar_decode_lines_per_s"} <= set(
        next(iter(result["references"].values()))
    )
    references = {f["reference"] for f in result["figures"]}
    assert {"rotel blackhole acked", "chDB bulk insert (push)"} <= references
    assert all("load_avg" in f for f in result["figures"])
    assert result["rss_kib_over_time"]["embedded/receiver"]
    for name in PLOTS:
        assert (out / name).read_bytes().startswith(b"\x89PNG")
    assert (out / "profiles" / "embedded-receiver.txt").stat().st_size > 0
    assert "embedded-receiver" in result["profiles"]
