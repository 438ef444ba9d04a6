"""Helpers for the SDK's end-to-end tests: child Python tasks and service restarts."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

from tests.support import REPO, RunningService

#: Lines (bodies) of records that come from the task's output or loggers.
LIFECYCLE_EVENTS = ("tasklogs.task.start", "tasklogs.task.end")


def new_run_id(prefix: str = "sdk") -> str:
    return f"{prefix}-{uuid.uuid4()}"


def child_env(service: RunningService | None, task_run_id: str, **extra: str) -> dict[str, str]:
    """Environment for a child task: this repo importable, pointed at ``service``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "TASKLOGS_")) and k != "PYTHONPATH"
    }
    env["PYTHONPATH"] = str(REPO)
    env["TASKLOGS_TASK_RUN_ID"] = task_run_id
    if service is not None:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = service.grpc_endpoint
    env.update(extra)
    return env


def start_python(script: str, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def run_python(
    script: str, env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def ordered(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(records, key=lambda r: int(r["seq"]))


def bodies(records: list[dict[str, Any]], scope: str | None = None) -> list[str]:
    return [str(r["body"]) for r in ordered(records) if scope is None or r["scope_name"] == scope]


def events(records: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [r for r in ordered(records) if r["event_name"] == name]


def wait_for_end(
    service: RunningService, task_run_id: str, timeout: float = 30.0, token: str | None = None
) -> list[dict[str, Any]]:
    """History once the task end record is stored (read as ``token``'s tenant)."""
    deadline = time.monotonic() + timeout
    while True:
        records = service.history(task_run_id, token)
        if events(records, "tasklogs.task.end") or time.monotonic() > deadline:
            return records
        time.sleep(0.1)


def stop_service(service: RunningService) -> None:
    service.stop()


def start_service_again(service: RunningService, config: Path, *, wait_only: bool = False) -> None:
    """``tasklogs serve`` on the same ports and data dir (the caller stops it), then wait
    until it is ready; ``wait_only``: it was started already, just wait."""
    if wait_only:
        service.wait_ready()
    else:
        service.restart(config)
