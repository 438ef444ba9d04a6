"""Helpers for tests: free ports, the `tasklogs` command, a running service handle."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent


def wait_log(
    proc: subprocess.Popen[bytes], read_log: Callable[[], str], text: str, timeout: float
) -> None:
    """Until ``text`` is in the process's log; fails with the log if it exits or times out."""
    deadline = time.monotonic() + timeout
    while text not in read_log():
        assert proc.poll() is None, read_log()
        assert time.monotonic() < deadline, read_log()
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tasklogs_cmd(*args: str) -> list[str]:
    """The `tasklogs` console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("tasklogs")
    if script.exists():
        return [str(script), *args]
    return [
        sys.executable,
        "-c",
        "from collector_service.cli import main; raise SystemExit(main())",
        *args,
    ]


def tasklogs(
    *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the `tasklogs` command as a real process and capture its output."""
    return subprocess.run(
        tasklogs_cmd(*args), capture_output=True, text=True, timeout=timeout, check=False, env=env
    )


#: The ``clickhouse`` exporter's keys in :func:`serve_yaml` unless told: a 50 ms linger.
FAST_BATCH = "batch: {timeout_ms: 50}"


def _protocol(port: int, options: str) -> str:
    return ", ".join(x for x in (f'endpoint: "127.0.0.1:{port}"', options) if x)


def serve_yaml(
    grpc_port: int,
    api_port: int,
    extra: str = "",
    *,
    http_port: int | None = None,
    exporter: str = FAST_BATCH,
    grpc: str = "",
    http: str = "",
) -> str:
    """A `tasklogs serve` config: OTLP over gRPC (and HTTP with ``http_port``) into the
    ``clickhouse`` exporter (its keys: ``exporter``) and the read API on loopback.

    ``grpc`` / ``http`` add keys to a protocol's section, ``extra`` top-level sections.
    """
    protocols = f"      grpc: {{{_protocol(grpc_port, grpc)}}}\n"
    if http_port is not None:
        protocols += f"      http: {{{_protocol(http_port, http)}}}\n"
    return f"""
receivers:
  otlp:
    protocols:
{protocols}exporters:
  clickhouse: {{{exporter}}}
service:
  pipelines:
    logs: {{receivers: [otlp], exporters: [clickhouse]}}
api: {{endpoint: "127.0.0.1:{api_port}"}}
{extra}"""


@dataclass(frozen=True)
class Served:
    """What :func:`serve_in` started: the service, its config (for restarts), its ports."""

    svc: RunningService
    config: Path
    grpc_port: int
    #: The OTLP/HTTP receiver's port, 0 without one.
    http_port: int = 0


def serve_in(
    root: Path,
    extra: str = "",
    *,
    http: str | None = None,
    exporter: str = FAST_BATCH,
    grpc: str = "",
    env: Mapping[str, str] | None = None,
) -> Served:
    """``tasklogs serve`` of :func:`serve_yaml` under ``root`` on free ports, ready.

    ``http``: the OTLP/HTTP receiver's extra keys (``""``: none), ``None`` for no HTTP
    receiver. The caller stops it with :meth:`RunningService.stop`.
    """
    grpc_port, api_port = free_port(), free_port()
    http_port = free_port() if http is not None else None
    config = root / "tasklogs.yaml"
    text = serve_yaml(
        grpc_port,
        api_port,
        extra,
        http_port=http_port,
        exporter=exporter,
        grpc=grpc,
        http=http or "",
    )
    config.write_text(text, encoding="utf-8")
    svc = start_serve(
        config,
        root / "data",
        grpc_port=grpc_port,
        api_port=api_port,
        log_path=root / "serve.log",
        env=env,
    )
    return Served(svc, config, grpc_port, http_port or 0)


def _spawn_serve(
    config: Path, data_dir: Path, log_path: Path, env: Mapping[str, str] | None
) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            tasklogs_cmd("serve", "--config", str(config), "--data-dir", str(data_dir)),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )


def start_serve(
    config: Path,
    data_dir: Path,
    *,
    grpc_port: int,
    api_port: int,
    log_path: Path,
    env: Mapping[str, str] | None = None,
) -> RunningService:
    """Start ``tasklogs serve`` with ``config`` (its ports must match) and wait until ready.

    ``env`` is added to this process's environment. The caller stops it with
    :meth:`RunningService.stop`.
    """
    proc = _spawn_serve(config, data_dir, log_path, env)
    svc = RunningService(
        proc, data_dir, f"http://127.0.0.1:{grpc_port}", f"http://127.0.0.1:{api_port}", log_path
    )
    svc.wait_ready()
    return svc


@dataclass
class RunningService:
    """A `tasklogs serve` child process on free loopback ports."""

    process: subprocess.Popen[bytes]
    data_dir: Path
    grpc_endpoint: str
    api_url: str
    log_path: Path

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Poll ``/readyz`` until the service answers 200; fail with its log otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                pytest.fail(
                    f"tasklogs serve exited with {self.process.returncode}:\n{self.log_text()}"
                )
            try:
                if httpx.get(f"{self.api_url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.process.kill()
                pytest.fail(f"tasklogs serve did not become ready:\n{self.log_text()}")
            time.sleep(0.1)

    def stop(self, timeout: float = 30.0) -> float:
        """SIGTERM, expect exit code 0 within ``timeout``; returns the seconds it took."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"tasklogs serve did not stop on SIGTERM:\n{self.log_text()}")
        assert code == 0, self.log_text()
        return time.monotonic() - started

    def restart(self, config: Path, env: Mapping[str, str] | None = None) -> None:
        """Start ``tasklogs serve`` again on the same ports and data directory; wait ready."""
        self.process = _spawn_serve(config, self.data_dir, self.log_path, env)
        self.wait_ready()

    def history(self, task_run_id: str, token: str | None = None) -> list[dict[str, Any]]:
        """Every stored record of a task run, following cursors (as ``token``'s tenant)."""
        records: list[dict[str, Any]] = []
        cursor: str | None = None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with httpx.Client(timeout=30, headers=headers) as client:
            while True:
                params: dict[str, Any] = {"limit": 5000}
                if cursor:
                    params["cursor"] = cursor
                resp = client.get(f"{self.api_url}/api/v1/tasks/{task_run_id}/logs", params=params)
                if resp.status_code == 404 and cursor is None:
                    return records  # nothing stored yet (an unknown task run is a 404)
                resp.raise_for_status()
                page = resp.json()
                records.extend(page["records"])
                cursor = page["next_cursor"]
                if not cursor:
                    return records

    def wait_for(
        self, task_run_id: str, count: int, timeout: float = 30.0, token: str | None = None
    ) -> list[dict[str, Any]]:
        """Poll history until ``count`` records are stored; then once more to catch extras."""
        deadline = time.monotonic() + timeout
        records = self.history(task_run_id, token)
        while len(records) < count and time.monotonic() < deadline:
            time.sleep(0.1)
            records = self.history(task_run_id, token)
        time.sleep(0.5)  # let anything extra (a duplicate) land before the caller counts
        return self.history(task_run_id, token)

    def run_shell(self, script: str, *options: str) -> tuple[str, subprocess.CompletedProcess[str]]:
        """`tasklogs run` a shell script against this service under a new task run id."""
        task_run_id = f"tr-{uuid.uuid4()}"
        proc = tasklogs(
            "run",
            "--task-run-id",
            task_run_id,
            "--endpoint",
            self.grpc_endpoint,
            *options,
            "--",
            "sh",
            "-c",
            script,
        )
        return task_run_id, proc

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")
