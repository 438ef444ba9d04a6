"""One `tasklogs serve` per test module (starting one costs seconds), and a small world
of task runs in it: a shell task that exits 3 and a Python task with multi-line and
control-character bodies, both in one pipeline run."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.collector_service.cli.support import python_task, serve
from tests.support import RunningService, tasklogs


@pytest.fixture(scope="module")
def cli_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    svc, _ = serve(tmp_path_factory.mktemp("cli"))
    yield svc
    svc.stop()


@dataclass(frozen=True)
class World:
    run_id: str
    shell: str  # task "build": 20 lines on stdout, one on stderr, exits 3
    py: str  # task "lint": multi-line, control characters, a WARN and an ERROR


@pytest.fixture(scope="module")
def world(cli_service: RunningService) -> World:
    run_id = f"run-{uuid.uuid4()}"
    shell = f"tr-{uuid.uuid4()}"
    script = (
        "i=1; while [ $i -le 20 ]; do echo line $i; i=$((i+1)); done; "
        "sleep 0.3; echo oops >&2; sleep 0.2; exit 3"
    )
    proc = tasklogs(
        "run", "--task-run-id", shell, "--pipeline-run-id", run_id, "--task-name", "build",
        "--endpoint", cli_service.grpc_endpoint, "--", "sh", "-c", script,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    py = f"tr-{uuid.uuid4()}"
    python_task(cli_service, py, run_id, "lint")
    assert len(cli_service.wait_for(shell, 23)) == 23  # start, 20 + 1 lines, end
    assert len(cli_service.wait_for(py, 3)) == 3
    return World(run_id, shell, py)
