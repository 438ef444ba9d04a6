"""The `tasklogs` command line as a real process."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.support import RunningService, free_port, tasklogs


def test_version() -> None:
    proc = tasklogs("--version")
    assert proc.returncode == 0
    assert proc.stdout.startswith("tasklogs 0.")


def test_run_without_a_command_is_a_usage_error() -> None:
    proc = tasklogs("run", "--task-run-id", "x")
    assert proc.returncode == 2
    assert "no command given" in proc.stderr


def test_serve_with_a_bad_config_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("exporters:\n  clickhouse: {tabel: x}\n", encoding="utf-8")
    proc = tasklogs("serve", "--config", str(config), "--data-dir", str(tmp_path / "d"))
    assert proc.returncode == 1
    assert "exporters.clickhouse.tabel" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.e2e
def test_serve_on_a_busy_port_fails_clearly(tmp_path: Path, service: RunningService) -> None:
    busy = service.api_url.removeprefix("http://")
    config = tmp_path / "c.yaml"
    config.write_text(
        f'receivers: {{otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{free_port()}"}}}}}}}}\n'
        f'api: {{endpoint: "{busy}"}}\n',
        encoding="utf-8",
    )
    proc = tasklogs("serve", "--config", str(config), "--data-dir", str(tmp_path / "d"))
    assert proc.returncode == 1
    assert f"HTTP API cannot bind {busy}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_logs_of_an_empty_store_without_a_service(tmp_path: Path) -> None:
    dead_api = f"http://127.0.0.1:{free_port()}"
    proc = tasklogs("logs", "nothing", "--api", dead_api, "--data-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""


@pytest.mark.e2e
def test_logs_while_the_service_owns_the_store_but_is_not_reachable(
    service: RunningService,
) -> None:
    dead_api = f"http://127.0.0.1:{free_port()}"
    proc = tasklogs("logs", "x", "--api", dead_api, "--data-dir", str(service.data_dir))
    assert proc.returncode == 1
    assert f"no tasklogs service answers at {dead_api}" in proc.stderr
    assert f"pid {service.process.pid}" in proc.stderr


@pytest.mark.e2e
def test_sigterm_drains_and_logs_reads_the_stopped_store(service: RunningService) -> None:
    task_run_id, run = service.run_shell(
        "i=1; while [ $i -le 500 ]; do echo line$i; i=$((i+1)); done"
    )
    assert run.returncode == 0, run.stderr
    # Every line is acknowledged; stop the service at once: its queue must drain.
    service.process.send_signal(signal.SIGTERM)
    assert service.process.wait(timeout=60) == 0, service.log_text()
    dead_api = f"http://127.0.0.1:{free_port()}"
    proc = tasklogs(
        "logs", task_run_id, "-o", "raw", "--api", dead_api, "--data-dir", str(service.data_dir)
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "task started"  # the task start record
    assert lines[1:501] == [f"line{i}" for i in range(1, 501)]
    assert len(lines) == 502  # and the end-of-task record


@pytest.mark.e2e
def test_a_second_serve_on_the_same_data_dir_fails_clearly(
    tmp_path: Path, service: RunningService
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        f'receivers: {{otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{free_port()}"}}}}}}}}\n'
        f'api: {{endpoint: "127.0.0.1:{free_port()}"}}\n',
        encoding="utf-8",
    )
    proc = tasklogs("serve", "--config", str(config), "--data-dir", str(service.data_dir))
    assert proc.returncode == 1
    assert f"is owned by another process (pid {service.process.pid})" in proc.stderr
    assert "Traceback" not in proc.stderr
