"""The chDB topologies the README describes, as real processes.

Recommended: `tasklogs serve` owns chDB and runs its writer (Redis holds the backlog);
history and `tasklogs logs` work through it. Receiver-only serve plus a chDB worker:
history answers 503 saying why and what to run, and `tasklogs logs` prints that.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.durability_support import request, send
from tests.faults.support import Service, wait_for
from tests.faults.test_chdb_disk import target
from tests.redis_support import RedisTarget
from tests.support import tasklogs

__all__ = ["target"]  # the fixture

pytestmark = pytest.mark.e2e

_CH = "  clickhouse:\n    batch: {timeout_ms: 50}\n"


def _history(svc: Service, task: str) -> httpx.Response:
    return httpx.get(f"{svc.api}/api/v1/tasks/{task}/logs", timeout=10)


def test_serve_with_its_chdb_writer_serves_history(tmp_path: Path, target: RedisTarget) -> None:
    svc = Service(tmp_path, _CH, "clickhouse", redis=target)
    svc.write()
    try:
        svc.serve()
        assert send(svc.endpoint, [(request("topo-1", 1, 20), 20)]).acked == 20
        wait_for(lambda: len(_history(svc, "topo-1").json()["records"]) == 20, 60, "history")
        out = tasklogs("logs", "topo-1", "-o", "raw", "--api", svc.api)
        assert out.returncode == 0, out.stderr
        assert len(out.stdout.splitlines()) == 20
    finally:
        svc.stop_all()


def test_receiver_only_serve_with_a_chdb_worker_explains(
    tmp_path: Path, target: RedisTarget
) -> None:
    svc = Service(tmp_path, _CH, "clickhouse", redis=target)
    svc.write()
    try:
        svc.serve("--no-writers")
        svc.worker("worker", "--exporter", "clickhouse")
        assert send(svc.endpoint, [(request("topo-2", 1, 5), 5)]).acked == 5
        time.sleep(1)
        resp = _history(svc, "topo-2")
        assert resp.status_code == 503
        detail = resp.json()["detail"]
        assert "owned by the `tasklogs worker`" in detail
        assert "inside `tasklogs serve`" in detail
        out = tasklogs("logs", "topo-2", "--api", svc.api)
        assert out.returncode == 1
        assert "inside `tasklogs serve`" in out.stderr
        assert "Traceback" not in out.stderr
    finally:
        svc.stop_all()
