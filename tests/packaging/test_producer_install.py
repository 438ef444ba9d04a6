"""The producer installs light: a fresh venv with only ``tasklogs-sdk`` (``otel_sdk_ext/``).

A real ``pip install`` of the producer distribution into a new virtual environment, then
its size and package list, a Python task's lines reaching a running service, and
``tasklogs-run`` passing an exit code through. The service runs from the full install.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.support import REPO, RunningService

pytestmark = pytest.mark.e2e

#: The producer's budget: OpenTelemetry SDK + OTLP exporters (grpcio, protobuf, requests).
MAX_SITE_PACKAGES_MIB = 40
#: What a task that only logs must never pay for.
SERVER_ONLY = {
    "chdb", "chdb-core", "pyarrow", "pandas", "clickhouse-connect", "psycopg", "psycopg-binary",
    "psycopg-pool", "redis", "fastapi", "starlette", "uvicorn", "pydantic", "pydantic-core",
    "tasklogs-collector", "tasklogs-clickhouse", "tasklogs-postgres", "tasklogs-live-tail",
}  # fmt: skip


@pytest.fixture(scope="module")
def producer_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("producer") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run(
        [*pip, "-c", str(REPO / "constraints.txt"), str(REPO / "otel_sdk_ext")],
        check=True,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    return venv


def _site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*/site-packages"))


def _mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def _installed(venv: Path) -> set[str]:
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format", "json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {row["name"].lower().replace("_", "-") for row in json.loads(out)}


def test_size_and_packages(producer_venv: Path) -> None:
    site = _site_packages(producer_venv)
    # pip and setuptools come with every venv; they are not the producer's weight.
    own = (
        _mib(site)
        - sum(_mib(p) for p in site.glob("pip*"))
        - sum(_mib(p) for p in site.glob("setuptools*"))
    )
    print(f"producer venv site-packages (without pip/setuptools): {own:.1f} MiB")
    assert own <= MAX_SITE_PACKAGES_MIB
    installed = _installed(producer_venv)
    assert "tasklogs-sdk" in installed
    assert not installed & SERVER_ONLY, installed & SERVER_ONLY


def test_import_pulls_in_no_server_module(producer_venv: Path) -> None:
    code = (
        "import sys, otel_sdk_ext, otel_sdk_ext.cli, otel_sdk_ext.semconv; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'collector_service','live_tail','tasklogs_clickhouse','tasklogs_postgres',"
        "'pydantic','fastapi','redis','chdb','psycopg','yaml'}); print(bad); assert not bad"
    )
    subprocess.run([str(producer_venv / "bin" / "python"), "-c", code], check=True)


def test_a_task_reaches_the_service(producer_venv: Path, service: RunningService) -> None:
    run_id = f"light-{uuid.uuid4()}"
    script = f"""
import logging, otel_sdk_ext
otel_sdk_ext.configure(
    task_run_id={run_id!r}, task_name="light", endpoint={service.grpc_endpoint!r}
)
with otel_sdk_ext.task():
    for i in range(20):
        logging.getLogger("light").info("line %d", i)
    print("printed")
"""
    subprocess.run(
        [str(producer_venv / "bin" / "python"), "-c", script], check=True, timeout=60, cwd="/"
    )
    records = service.wait_for(run_id, 23)
    bodies = [r["body"] for r in records]
    assert [f"line {i}" for i in range(20)] == [b for b in bodies if b.startswith("line ")]
    assert "printed" in bodies
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))


def test_tasklogs_run_passes_the_exit_code(producer_venv: Path, service: RunningService) -> None:
    run_id = f"light-run-{uuid.uuid4()}"
    proc = subprocess.run(
        [
            str(producer_venv / "bin" / "tasklogs-run"),
            "--task-run-id",
            run_id,
            "--endpoint",
            service.grpc_endpoint,
            "--",
            "sh",
            "-c",
            "echo one; echo two >&2; exit 3",
        ],
        capture_output=True,
        timeout=60,
        cwd="/",
        check=False,
    )
    assert proc.returncode == 3, proc.stderr
    bodies = [r["body"] for r in service.wait_for(run_id, 4)]
    assert "one" in bodies
    assert "two" in bodies


def test_the_producer_unit_tests_pass_without_the_server(producer_venv: Path) -> None:
    """The producer's own tests, in the venv that has no store, no chDB and no core."""
    py = str(producer_venv / "bin" / "python")
    subprocess.run(
        [py, "-m", "pip", "install", "--quiet", "-c", str(REPO / "constraints.txt"),
         "pytest", "pytest-asyncio", "pytest-timeout", "httpx"],
        check=True,
    )  # fmt: skip
    proc = subprocess.run(
        [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not e2e", "tests/otel_sdk_ext"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout
