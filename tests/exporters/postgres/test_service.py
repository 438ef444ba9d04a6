"""The postgres exporter inside a real `tasklogs serve`: a task's lines reach history."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import RunningService, free_port, start_serve

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
    svc = start_serve(
        config,
        tmp_path / "d",
        grpc_port=grpc_port,
        api_port=api_port,
        log_path=tmp_path / "serve.log",
    )
    yield svc
    svc.stop()


def test_a_task_run_is_stored_in_postgres_and_read_back(pg_service: RunningService) -> None:
    task_run_id, proc = pg_service.run_shell('for i in 1 2 3; do echo "ligne $i ✓"; done')
    assert proc.returncode == 0, proc.stderr
    records = pg_service.wait_for(task_run_id, 3)
    bodies = [r["body"] for r in records]
    assert [b for b in bodies if b.startswith("ligne")] == ["ligne 1 ✓", "ligne 2 ✓", "ligne 3 ✓"]
