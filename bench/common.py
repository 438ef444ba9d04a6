"""What every benchmark shares: ports and processes, the load average, result files, the
one OTLP load generator (N task processes x R lines/s over gRPC or HTTP, in
bench/loadgen.py, re-exported here), and the peers (rotel, the Rust OpenTelemetry
collector; py-spy for profiles).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.loadgen import (
    LoadGenerator,
    LoadResult,
    LoadSpec,
    export_request,
    percentile,
    task_payloads,
)

__all__ = [
    "RESULTS",
    "LoadGenerator",
    "LoadResult",
    "LoadSpec",
    "RssSampler",
    "cpu_seconds",
    "export_request",
    "free_port",
    "load_average",
    "percentile",
    "port_open",
    "py_spy",
    "rotel",
    "rotel_binary",
    "rss_kib",
    "save_json",
    "spawn",
    "stop",
    "task_payloads",
    "top_functions",
    "wait_for",
]

RESULTS = Path(__file__).resolve().parent / "results"


# --- machine and processes ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load_average() -> float:
    """The 1-minute load average, recorded beside every figure (the machine is shared)."""
    return round(os.getloadavg()[0], 2)


def save_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def rss_kib(pid: int) -> int:
    """Resident set size of a process (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for(ready: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def spawn(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a program (``tasklogs`` from this venv when ``args[0]`` is "tasklogs")."""
    if args[0] == "tasklogs":
        args = [str(Path(sys.executable).with_name("tasklogs")), *args[1:]]
    with log.open("ab") as out:
        return subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )


def stop(proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class RssSampler:
    """RSS of named processes every ``interval`` seconds, on a thread, for the whole run."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.samples: dict[str, list[tuple[float, int]]] = {}
        self._pids: dict[str, int] = {}
        self._t0 = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def watch(self, name: str, pid: int) -> None:
        self._pids[name] = pid
        self.samples.setdefault(name, [])

    def unwatch(self, name: str) -> None:
        self._pids.pop(name, None)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            now = round(time.monotonic() - self._t0, 2)
            for name, pid in list(self._pids.items()):
                if kib := rss_kib(pid):
                    self.samples[name].append((now, kib))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --- peers -------------------------------------------------------------------------------


def rotel_binary() -> Path:
    spec = importlib.util.find_spec("rotel")
    if spec is None or spec.origin is None:
        raise RuntimeError("rotel is not installed (make install installs the dev extras)")
    return Path(spec.origin).parent / "rotel-agent"


@contextlib.contextmanager
def rotel(
    log: Path, exporter_args: list[str]
) -> Iterator[tuple[subprocess.Popen[bytes], int, int]]:
    """A rotel-agent with the given exporter; yields (process, gRPC port, HTTP port)."""
    grpc_port, http_port = free_port(), free_port()
    args = [
        str(rotel_binary()), "start",
        "--otlp-grpc-endpoint", f"127.0.0.1:{grpc_port}",
        "--otlp-http-endpoint", f"127.0.0.1:{http_port}",
        *exporter_args,
    ]  # fmt: skip
    proc = spawn(args, log)
    try:
        wait_for(lambda: port_open(grpc_port) and port_open(http_port), 30, "rotel to listen")
        yield proc, grpc_port, http_port
    finally:
        stop(proc, 20)


@contextlib.contextmanager
def py_spy(pid: int, out: Path, seconds: float) -> Iterator[None]:
    """Sample ``pid`` with py-spy for ``seconds``: collapsed stacks, by function, idle
    threads left out, sampled without stopping the process."""
    exe = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if exe is None:
        raise RuntimeError("py-spy is not installed (make install installs the dev extras)")
    out.parent.mkdir(parents=True, exist_ok=True)
    args = [exe, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds)))]
    args += ["--format", "raw", "--function", "--rate", "100", "--nonblocking"]
    args += ["--output", str(out)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield
    finally:
        try:
            proc.wait(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def top_functions(raw: Path, n: int = 15) -> list[dict[str, Any]]:
    """Self and inclusive shares of the functions in py-spy's collapsed stacks."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        total += int(count)
        own[frames[-1]] = own.get(frames[-1], 0) + int(count)
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + int(count)
    ranked = sorted(own.items(), key=lambda kv: -kv[1])[:n]
    return [
        {
            "function": name,
            "self_pct": round(100 * c / total, 1),
            "inclusive_pct": round(100 * inclusive[name] / total, 1),
        }
        for name, c in ranked
    ]
