"""The fault suite's harness: real processes, a steady seq-numbered load, SSE followers.

Reuses the durability tests' request builder and row count (tests/e2e/durability_support)
and adds what faults need: a service whose processes can be SIGKILLed and restarted, a
load generator that knows exactly which ``(task run, tasklogs.seq)`` were acknowledged,
SSE followers that reconnect with ``Last-Event-ID``, a size-limited tmpfs for the chDB
directory, and a process that runs without ``CAP_DAC_OVERRIDE`` (so a directory made
read-only refuses it, root or not).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from tests.e2e.durability_support import EXPORT, RETRYABLE, request
from tests.redis_support import RedisTarget
from tests.support import REPO, free_port, tasklogs_cmd, wait_log

__all__ = [
    "Follower",
    "Load",
    "Service",
    "tmpfs",
    "without_dac_override",
]

#: Run a command as root without the capabilities that bypass file permissions.
NO_DAC = ["capsh", "--drop=cap_dac_override,cap_dac_read_search", "--"]


@contextmanager
def tmpfs(path: Path, size_mib: int) -> Iterator[Path]:
    """A size-limited tmpfs at ``path`` (needs root / CAP_SYS_ADMIN: fails loudly)."""
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs at {path} (the fault suite needs root): {proc.stderr}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def without_dac_override(cmd: list[str]) -> list[str]:
    """``cmd`` run by ``capsh`` without CAP_DAC_OVERRIDE (fails loudly when missing)."""
    if shutil.which("capsh") is None:
        pytest.fail("capsh (libcap2-bin) is needed to make a directory read-only for root")
    return [*NO_DAC, "-c", " ".join(f"'{a}'" for a in cmd)]


@dataclass
class Service:
    """A config and the `tasklogs` processes of one deployment (serve, workers)."""

    root: Path
    exporters_yaml: str
    pipeline: str
    redis: RedisTarget | None = None
    ingest: dict[str, object] = field(default_factory=dict)
    data_dir: Path | None = None
    grpc_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    no_dac: bool = False

    @property
    def config(self) -> Path:
        return self.root / "tasklogs.yaml"

    @property
    def data(self) -> Path:
        return self.data_dir or self.root / "data"

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def write(self) -> None:
        redis = ""
        if self.redis is not None:
            redis = self.redis.yaml(heartbeat_timeout_s=1, **self.ingest)
        self.config.write_text(
            f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{self.grpc_port}"}}
exporters:
{self.exporters_yaml}
service:
  pipelines:
    logs: {{receivers: [otlp], exporters: [{self.pipeline}]}}
api: {{endpoint: "127.0.0.1:{self.api_port}"}}
{redis}""",
            encoding="utf-8",
        )

    def spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        cmd = tasklogs_cmd(*args, "--config", str(self.config), "--data-dir", str(self.data))
        if self.no_dac:
            cmd = without_dac_override(cmd)
        with (self.root / f"{name}.log").open("ab") as out:
            proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO)},
                cwd=REPO,
            )
        self.procs[name] = proc
        return proc

    def serve(self, *extra: str, wait_ready: bool = True) -> subprocess.Popen[bytes]:
        proc = self.spawn("serve", "serve", *extra)
        # A restart opens a chDB directory with data: past 90 s at load averages of 40.
        deadline = time.monotonic() + 240
        while wait_ready:
            assert proc.poll() is None, self.log("serve")
            if self.readyz()[0] == 200:
                break
            assert time.monotonic() < deadline, self.log("serve")
            time.sleep(0.1)
        return proc

    def worker(self, name: str, *extra: str) -> subprocess.Popen[bytes]:
        proc = self.spawn(name, "worker", "--drain-timeout", "20", *extra)
        wait_log(proc, lambda: self.log(name), "writers for", 90)
        return proc

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    def stop(self, name: str) -> float:
        """SIGTERM and wait: a clean shutdown (drain, streams told to reconnect). Returns
        the seconds from the signal to the exit."""
        proc = self.procs[name]
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
        return time.monotonic() - began

    def readyz(self) -> tuple[int, dict[str, Any]]:
        try:
            resp = httpx.get(f"{self.api}/readyz", timeout=2)
        except httpx.HTTPError:
            return 0, {}
        return resp.status_code, resp.json()

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


#: The codes an OTel SDK retries (the OTLP spec), e.g. CANCELLED from a server stopping.
_SDK_RETRIES = (
    *RETRYABLE,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.DATA_LOSS,
)
#: Refusals after which the request may have been taken all the same (resent).
_ANSWER_LOST = (grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED)


class Load(threading.Thread):
    """A steady load: ``tasks`` task runs, ``per_request`` lines per Export, seq from 1.

    Retries refusals and lost connections with the same payload (as an OTel SDK does),
    so every line is eventually acknowledged; ``acked`` holds what was, and ``resent``
    the (task, first seq) of requests whose answer was lost (a timeout, a reset), which
    a store may hold twice until reads deduplicate by ``(task run, seq)``.

    ``senders`` threads (each with its own channel) share the tasks, so that many
    requests are in flight at once, as with many producers. Each task is sent by one
    thread only: its requests go out in seq order, one at a time. With ``catch_up``
    the load keeps to a schedule (``rate`` lines/s since it started) rather than to a
    pause per round: after an outage it sends what it owes as fast as it can, as an
    SDK's queue drains after its exporter was refused for a while.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        tasks: int = 4,
        per_request: int = 100,
        rate: float = 2000,
        senders: int = 1,
        catch_up: bool = False,
    ) -> None:
        super().__init__(daemon=True)
        self.endpoint = endpoint
        self.tasks = [f"fault-{os.getpid()}-{time.monotonic_ns()}-{t}" for t in range(tasks)]
        self.per_request = per_request
        self.rate = rate
        self.senders = max(1, min(senders, tasks))
        self.catch_up = catch_up
        self.stopping = threading.Event()
        self.acked: dict[str, int] = dict.fromkeys(self.tasks, 0)  # highest acked seq
        self.refusals: Counter[str] = Counter()
        self.resent = 0
        self.error: BaseException | None = None
        self._lock = threading.Lock()

    @property
    def acked_lines(self) -> int:
        return sum(self.acked.values())

    def run(self) -> None:
        groups = [self.tasks[i :: self.senders] for i in range(self.senders)]
        threads = [threading.Thread(target=self._guarded, args=(g,), daemon=True) for g in groups]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _guarded(self, tasks: list[str]) -> None:
        try:
            self._run(tasks)
        except BaseException as exc:
            self.error = exc
            self.stopping.set()

    def _run(self, tasks: list[str]) -> None:
        share = self.rate * len(tasks) / len(self.tasks)  # this sender's lines/s
        per_round = self.per_request * len(tasks)
        channel = grpc.insecure_channel(self.endpoint)
        export = channel.unary_unary(EXPORT)
        began, sent = time.monotonic(), 0
        try:
            while not self.stopping.is_set():
                started = time.monotonic()
                for task in tasks:
                    payload = request(task, self.acked[task] + 1, self.per_request, body="y" * 60)
                    self._send(export, payload)
                    self.acked[task] += self.per_request
                sent += per_round
                # On schedule since the start (catch up), or a pause per round.
                due = began + sent / share if self.catch_up else started + per_round / share
                self.stopping.wait(max(0.0, due - time.monotonic()))
        finally:
            channel.close()

    def _send(self, export: Any, payload: bytes) -> None:
        while True:
            try:
                export(payload, timeout=10)
                return
            except grpc.RpcError as exc:
                code = exc.code()
                with self._lock:
                    self.refusals[code.name] += 1
                if code not in _SDK_RETRIES:
                    raise
                if code in _ANSWER_LOST:
                    with self._lock:
                        self.resent += 1
                # An SDK retries at once after a broken connection, then backs off.
                time.sleep(0.02 if self.catch_up else 0.1)

    def finish(self) -> None:
        self.stopping.set()
        self.join(timeout=300)
        assert not self.is_alive(), "the load did not finish"
        assert self.error is None, self.error


class Follower(threading.Thread):
    """An SSE client of one task's stream that reconnects with ``Last-Event-ID``."""

    def __init__(self, api: str, task: str) -> None:
        super().__init__(daemon=True)
        self.url = f"{api}/api/v1/tasks/{task}/logs/stream"
        self.seqs: Counter[int] = Counter()
        self.gaps: list[dict[str, Any]] = []
        self.reconnects = 0
        self.stopping = threading.Event()
        self._last_id: str | None = None

    def run(self) -> None:
        while not self.stopping.is_set():
            headers = {"Last-Event-ID": self._last_id} if self._last_id else {}
            try:
                with httpx.stream("GET", self.url, headers=headers, timeout=10) as resp:
                    if resp.status_code == 200:
                        self._read(resp)
            except httpx.HTTPError:
                pass
            self.reconnects += 1
            self.stopping.wait(0.3)

    def _read(self, resp: httpx.Response) -> None:
        event, data, eid = "message", "", None
        for line in resp.iter_lines():
            if self.stopping.is_set():
                return
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].strip()
            elif line.startswith("id:"):
                eid = line[3:].strip()
            elif line == "":
                if event == "log" and data:
                    self.seqs[int(json.loads(data)["seq"])] += 1
                elif event == "gap" and data:
                    self.gaps.append(json.loads(data))
                if eid:
                    self._last_id = eid
                event, data, eid = "message", "", None

    def finish(self) -> None:
        self.stopping.set()
        self.join(timeout=30)


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
