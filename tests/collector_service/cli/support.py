"""Real `tasklogs serve` processes for the CLI tests, and the CLI as real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support import (
    RunningService,
    serve_in,
    serve_yaml,
    tasklogs,
    tasklogs_cmd,
)

__all__ = [
    "Follower",
    "cli",
    "python_task",
    "serve",
    "serve_yaml",
    "wait_stored",
    "wait_until",
]

#: A Python task through otel_sdk_ext: multi-line and control-character bodies.
PY_TASK = textwrap.dedent(
    """
    import logging, sys
    import otel_sdk_ext

    otel_sdk_ext.configure(
        task_run_id=sys.argv[1], pipeline_run_id=sys.argv[2], task_name=sys.argv[3],
        endpoint=sys.argv[4],
    )
    log = logging.getLogger("task")
    log.info("first\\nsecond\\nthird")
    log.warning("bell \\x07 and \\x1b]0;title\\x07 stay visible")
    log.error("boom")
    """
)


def serve(root: Path, extra: str = "") -> tuple[RunningService, Path]:
    """A `tasklogs serve` under ``root``; returns it and its config (for restarts)."""
    served = serve_in(root, extra)
    return served.svc, served.config


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKLOGS_")}
    env["TASKLOGS_CLI_CONFIG"] = os.devnull  # no user config file leaks in
    env.pop("NO_COLOR", None)
    env.pop("FORCE_COLOR", None)
    return {**env, **(extra or {})}


def cli(
    svc: RunningService | None, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`tasklogs ARGS --api-url <svc>` as a real process."""
    url = ["--api-url", svc.api_url] if svc is not None else []
    return tasklogs(*args, *url, env=_env(env), timeout=120)


def python_task(svc: RunningService, tid: str, run_id: str, name: str) -> None:
    subprocess.run(
        [sys.executable, "-c", PY_TASK, tid, run_id, name, svc.grpc_endpoint],
        check=True,
        timeout=120,
        capture_output=True,
    )


def wait_stored(svc: RunningService, tid: str, count: int, timeout: float = 30.0) -> None:
    """Until ``count`` lines of ``tid`` are stored (a task not there yet is a 404)."""

    def stored() -> int:
        resp = httpx.get(f"{svc.api_url}/api/v1/tasks/{tid}/logs", timeout=10)
        return len(resp.json()["records"]) if resp.status_code == 200 else 0

    wait_until(f"{count} stored lines of {tid}", lambda: stored() >= count, timeout)


def wait_until(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@dataclass
class Follower:
    """A `tasklogs logs ... -f` process writing to files."""

    proc: subprocess.Popen[bytes]
    out: Path
    err: Path

    @classmethod
    def start(
        cls, root: Path, svc: RunningService, *args: str, env: dict[str, str] | None = None
    ) -> Follower:
        n = len(list(root.glob("follow-*.out")))
        out, err = root / f"follow-{n}.out", root / f"follow-{n}.err"
        with out.open("wb") as o, err.open("wb") as e:
            proc = subprocess.Popen(
                tasklogs_cmd("logs", *args, "--api-url", svc.api_url),
                stdout=o,
                stderr=e,
                env=_env({"PYTHONUNBUFFERED": "1", **(env or {})}),
            )
        return cls(proc, out, err)

    def lines(self) -> list[str]:
        return self.out.read_text(encoding="utf-8").splitlines()

    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8")

    def wait_for_lines(self, check: Callable[[list[str]], bool], timeout: float = 30.0) -> None:
        wait_until(f"follower output; got {self.lines()!r}", lambda: check(self.lines()), timeout)

    def wait(self, timeout: float = 60.0) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(
                f"tasklogs logs did not end: {self.lines()!r}\n{self.stderr()}"
            ) from None

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.wait(30)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
