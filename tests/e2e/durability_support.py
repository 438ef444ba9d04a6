"""Real processes for the durability tests: serve, workers, an OTLP sender, a row count."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
import redis
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from tests.redis_support import RedisTarget
from tests.support import REPO, free_port, tasklogs_cmd, wait_log

EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
RETRYABLE = (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE)


def request(task: str, first_seq: int, n: int, body: str = "x" * 150) -> bytes:
    res = Resource(
        attributes=[
            KeyValue(key="service.name", value=AnyValue(string_value="durability")),
            KeyValue(key="cicd.pipeline.task.run.id", value=AnyValue(string_value=task)),
        ]
    )
    now = time.time_ns()
    records = [
        LogRecord(
            time_unix_nano=now + i,
            body=AnyValue(string_value=f"{body} {first_seq + i}"),
            attributes=[KeyValue(key="tasklogs.seq", value=AnyValue(int_value=first_seq + i))],
        )
        for i in range(n)
    ]
    req = ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(resource=res, scope_logs=[ScopeLogs(log_records=records)])]
    )
    return bytes(req.SerializeToString())


@dataclass
class SendResult:
    acked: int = 0
    refused: int = 0
    codes: list[grpc.StatusCode] = field(default_factory=list)


def send(
    endpoint: str,
    payloads: Iterable[tuple[bytes, int]],
    *,
    retry: bool = True,
    pause: float = 0.0,
    deadline_s: float = 120.0,
) -> SendResult:
    """Export each payload; with ``retry``, retry refusals like an OTel SDK does."""
    result = SendResult()
    with grpc.insecure_channel(endpoint) as channel:
        export = channel.unary_unary(EXPORT)
        for payload, records in payloads:
            stop = time.monotonic() + deadline_s
            while True:
                try:
                    export(payload, timeout=10)
                    result.acked += records
                    break
                except grpc.RpcError as exc:
                    result.codes.append(exc.code())
                    if exc.code() not in RETRYABLE:
                        raise
                    if not retry or time.monotonic() > stop:
                        result.refused += records
                        break
                    time.sleep(0.2)
            if pause:
                time.sleep(pause)
    return result


class SendThread(threading.Thread):
    def __init__(self, endpoint: str, payloads: list[tuple[bytes, int]], pause: float) -> None:
        super().__init__(daemon=True)
        self.endpoint, self.payloads, self.pause = endpoint, payloads, pause
        self.result: SendResult | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = send(self.endpoint, self.payloads, pause=self.pause)
        except BaseException as exc:
            self.error = exc


@dataclass
class Deployment:
    """A config for a receiver-only `tasklogs serve` plus `tasklogs worker` processes."""

    root: Path
    target: RedisTarget
    exporter: str = "clickhouse"
    exporter_yaml: str = "{}"
    ingest: dict[str, object] = field(default_factory=dict)
    grpc_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def config(self) -> Path:
        return self.root / "tasklogs.yaml"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def write(self) -> None:
        ingest = {"heartbeat_timeout_s": 1, **self.ingest}
        self.config.write_text(
            f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{self.grpc_port}"}}
exporters:
  {self.exporter}: {self.exporter_yaml}
service:
  pipelines:
    logs: {{receivers: [otlp], exporters: [{self.exporter}]}}
api: {{endpoint: "127.0.0.1:{self.api_port}"}}
{self.target.yaml(**ingest)}""",
            encoding="utf-8",
        )

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = self.root / f"{name}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                tasklogs_cmd(*args, "--config", str(self.config), "--data-dir", str(self.data_dir)),
                stdout=out,
                stderr=subprocess.STDOUT,
                env={
                    **os.environ,
                    "PYTHONUNBUFFERED": "1",
                    "PYTHONPATH": os.pathsep.join(
                        [str(REPO), *self.env.get("PYTHONPATH", "").split(os.pathsep)]
                    ),
                },
                cwd=REPO,
            )
        self.procs.append(proc)
        return proc

    def serve(self, *, writers: bool = False) -> subprocess.Popen[bytes]:
        proc = self._spawn("serve", "serve", *([] if writers else ["--no-writers"]))
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, self.log("serve")
            try:
                if httpx.get(f"http://127.0.0.1:{self.api_port}/readyz", timeout=1).is_success:
                    return proc
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, self.log("serve")
            time.sleep(0.1)

    def worker(self, name: str, *extra: str) -> subprocess.Popen[bytes]:
        proc = self._spawn(
            name, "worker", "--exporter", self.exporter, "--drain-timeout", "20", *extra
        )
        wait_log(proc, lambda: self.log(name), "writers for", 60)
        return proc

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def backlog(self) -> tuple[int, int]:
        """(undelivered, pending) entries of the exporter's group on the ingest stream."""
        client = self.target.client()
        try:
            stream = f"{{{self.target.key_prefix}:ingest:0}}"
            for group in client.xinfo_groups(stream):
                name = group["name"]
                if (name.decode() if isinstance(name, bytes) else name) == self.exporter:
                    return int(group["lag"] or 0), int(group["pending"])
            return -1, -1
        finally:
            client.close()

    def wait_drained(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while self.backlog() != (0, 0):
            assert time.monotonic() < deadline, f"backlog {self.backlog()} not drained"
            time.sleep(0.2)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def stop(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> tuple[int, float]:
    """SIGTERM a process; (exit code, seconds it took)."""
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=timeout)
    return code, time.monotonic() - started


_COUNT = """
import sys, clickhouse_connect
c = clickhouse_connect.get_client(dsn=sys.argv[1])
row = c.query(
    "SELECT count(), uniqExact(ResourceAttributes['cicd.pipeline.task.run.id'], "
    "LogAttributes['tasklogs.seq']) FROM default.otel_logs"
).result_rows[0]
print(row[0], row[1])
"""


def count_rows(data_dir: Path) -> tuple[int, int]:
    """(rows, distinct (task run, seq)) in the chDB store, read by a process of its own."""
    dsn = f"chdb://{(data_dir / 'chdb').resolve()}"
    out = subprocess.run(
        [sys.executable, "-c", _COUNT, dsn], capture_output=True, text=True, timeout=120, check=True
    )
    total, distinct = out.stdout.split()
    return int(total), int(distinct)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def stream_len(target: RedisTarget) -> int:
    client: redis.Redis | redis.cluster.RedisCluster = target.client()
    try:
        return int(client.xlen(f"{{{target.key_prefix}:ingest:0}}"))
    finally:
        client.close()
