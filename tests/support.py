"""Helpers for tests: free ports, the `tasklogs` command, a running service handle."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent


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


@dataclass
class RunningService:
    """A `tasklogs serve` child process on free loopback ports."""

    process: subprocess.Popen[bytes]
    data_dir: Path
    grpc_endpoint: str
    api_url: str
    log_path: Path

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
