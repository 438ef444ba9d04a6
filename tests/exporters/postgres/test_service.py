"""The postgres exporter inside a real `tasklogs serve`: a task's lines reach history."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import RunningService, free_port, tasklogs_cmd

pytestmark = pytest.mark.e2e


@pytest.fixture
def pg_service(tmp_path: Path, pg_dsn: str, pg_schema: str) -> Iterator[RunningService]:
    grpc_port, api_port = free_port(), free_port()
    config = tmp_path / "tasklogs.yaml"
    config.write_text(
        f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc_port}"}}
exporters:
  postgres:
    dsn: "{pg_dsn}"
    schema: {pg_schema}
    ttl: 720h
    batch: {{timeout_ms: 50}}
service:
  pipelines:
    logs: {{receivers: [otlp], exporters: [postgres]}}
api: {{endpoint: "127.0.0.1:{api_port}"}}
""",
        encoding="utf-8",
    )
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            tasklogs_cmd("serve", "--config", str(config), "--data-dir", str(tmp_path / "d")),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    svc = RunningService(
        proc,
        tmp_path / "d",
        f"http://127.0.0.1:{grpc_port}",
        f"http://127.0.0.1:{api_port}",
        log_path,
    )
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            pytest.fail(f"tasklogs serve exited with {proc.returncode}:\n{svc.log_text()}")
        try:
            if httpx.get(f"{svc.api_url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"tasklogs serve did not become ready:\n{svc.log_text()}")
        time.sleep(0.1)
    yield svc
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"tasklogs serve did not stop on SIGTERM:\n{svc.log_text()}")
    assert code == 0, svc.log_text()


def test_a_task_run_is_stored_in_postgres_and_read_back(pg_service: RunningService) -> None:
    task_run_id, proc = pg_service.run_shell('for i in 1 2 3; do echo "ligne $i ✓"; done')
    assert proc.returncode == 0, proc.stderr
    records = pg_service.wait_for(task_run_id, 3)
    bodies = [r["body"] for r in records]
    assert [b for b in bodies if b.startswith("ligne")] == ["ligne 1 ✓", "ligne 2 ✓", "ligne 3 ✓"]
