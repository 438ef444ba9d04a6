"""What the harness drives: the tasklogs configurations and the peers, each started on
free ports in a private directory and stopped afterwards.

- ``embedded``: one ``tasklogs serve``, in-process queue, chDB written by its own writer;
- ``redis``: a receiver-only ``tasklogs serve`` (``--no-writers``) and separate
  ``tasklogs worker --exporter clickhouse`` processes, Redis durability on (an Export is
  answered once it is in the ingest stream; a line is stored once the worker XACKed it);
- ``postgres``: one ``tasklogs serve`` writing the PostgreSQL store (binary COPY);
- ``receiver-null``: the receivers alone into a sink that takes everything
  (bench/ingress_receivers.py's server: auth and the identity rule on);
- ``rotel-blackhole`` / ``rotel-forward``: the peer, rotel (a Rust OTel collector),
  dropping what it receives, or forwarding it over OTLP/gRPC to a second rotel that drops it.

The live tail is off in the tasklogs configurations: they time the storage path.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import collector_e2e, ingress_receivers, postgres_write
from bench.common import free_port, rotel, spawn, stop, wait_for

CONFIGS = ("embedded", "redis", "postgres")
PEERS = ("receiver-null", "rotel-blackhole", "rotel-forward")
TOKEN = ingress_receivers.TOKEN


@dataclass
class Target:
    name: str
    grpc: str  # host:port
    http: str  # URL of POST /v1/logs
    #: processes to sample (RSS, CPU) and profile: role -> pid; "receiver" first
    pids: dict[str, int] = field(default_factory=dict)
    #: lines stored so far (cumulative), or None where nothing is stored
    stored: Callable[[], int] | None = None
    token: str = ""
    #: ``stored`` counts Exports (Redis stream entries), not lines
    stored_counts_exports: bool = False


def _wait_ready(api_port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            return httpx.get(f"http://127.0.0.1:{api_port}/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(ready, 120, f"{log.name} to be ready")


def _metric(url: str, exporter: str) -> Callable[[], int]:
    """The exporter's ``tasklogs_exporter_sent_log_records_total`` from /metrics."""
    prefix = f'tasklogs_exporter_sent_log_records_total{{exporter="{exporter}"}}'

    def sent() -> int:
        for line in httpx.get(url).text.splitlines():
            if line.startswith(prefix):
                return int(float(line.rsplit(" ", 1)[1]))
        return 0

    return sent


def _receivers(grpc_port: int, http_port: int, api_port: int) -> str:
    return (
        "receivers: {otlp: {protocols: {"
        f'grpc: {{endpoint: "127.0.0.1:{grpc_port}"}}, '
        f'http: {{endpoint: "127.0.0.1:{http_port}"}}}}}}}}\n'
        f'api: {{endpoint: "127.0.0.1:{api_port}"}}\n'
        "extensions: {live_tail: {enabled: false}}\n"
    )


@contextlib.contextmanager
def _serve(
    root: Path, name: str, extra: str, args: tuple[str, ...] = (), exporter: str = "clickhouse"
) -> Iterator[Target]:
    grpc_port, http_port, api_port = free_port(), free_port(), free_port()
    cfg = root / f"{name}.yaml"
    cfg.write_text(_receivers(grpc_port, http_port, api_port) + extra, encoding="utf-8")
    log = root / f"{name}-serve.log"
    data = root / f"{name}-data"
    cmd = ["tasklogs", "serve", *args, "--config", str(cfg), "--data-dir", str(data)]
    proc = spawn(cmd, log)
    try:
        _wait_ready(api_port, proc, log)
        yield Target(
            name,
            f"127.0.0.1:{grpc_port}",
            f"http://127.0.0.1:{http_port}/v1/logs",
            {"receiver": proc.pid},
            _metric(f"http://127.0.0.1:{api_port}/metrics", exporter),
        )
    finally:
        stop(proc, 120)


@contextlib.contextmanager
def embedded(root: Path) -> Iterator[Target]:
    extra = "exporters:\n  clickhouse:\n    batch: {send_batch_max_size: 65536, timeout_ms: 200}\n"
    with _serve(root, "embedded", extra) as target:
        yield target


@contextlib.contextmanager
def redis_durable(root: Path, url: str, shards: int = 2, workers: int = 1) -> Iterator[Target]:
    import redis

    prefix = f"bench{uuid.uuid4().hex[:8]}"
    extra = (
        "exporters:\n  clickhouse:\n    batch: {send_batch_max_size: 65536, timeout_ms: 1000}\n"
        f"redis:\n  url: {url}\n  key_prefix: {prefix}\n"
        f"  ingest: {{max_backlog_entries: 1024, read_count: 128, shards: {shards}}}\n"
    )
    client = redis.Redis.from_url(url)
    streams = [f"{{{prefix}:ingest:{i}}}" for i in range(shards)]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with _serve(root, "redis", extra, ("--no-writers",)) as target:
            cfg = root / "redis.yaml"
            for i in range(workers):
                log = root / f"redis-worker{i}.log"
                cmd = ["tasklogs", "worker", "--exporter", "clickhouse", "--config", str(cfg)]
                procs.append(spawn([*cmd, "--data-dir", str(root / f"redis-w{i}")], log))
                _wait_log(log, "writers for")
                target.pids[f"writer{i}"] = procs[-1].pid

            def acked() -> int:
                # Entries (one per Export) the workers' group acknowledged after the INSERT.
                return sum(
                    collector_e2e.group_acked(client, s, "clickhouse")[1]
                    for s in streams
                    if client.exists(s)
                )

            target.stored = acked
            target.stored_counts_exports = True
            yield target
    finally:
        for p in procs:
            stop(p, 120)
        for key in client.scan_iter(match=f"{{{prefix}:*"):
            client.delete(key)
        client.close()


@contextlib.contextmanager
def postgres(root: Path) -> Iterator[Target]:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    extra = (
        f"exporters:\n  postgres:\n    dsn: {postgres_write.DSN}\n    schema: {schema}\n"
        "    batch: {send_batch_max_size: 65536, timeout_ms: 200}\n"
        "service: {pipelines: {logs: {receivers: [otlp], exporters: [postgres]}}}\n"
    )
    try:
        with _serve(root, "postgres", extra, exporter="postgres") as target:
            yield target
    finally:
        postgres_write.drop_schema(schema)


def _wait_log(log: Path, text: str) -> None:
    wait_for(lambda: text in log.read_text(errors="replace"), 120, f"{text!r} in {log.name}")


@contextlib.contextmanager
def receiver_null(root: Path) -> Iterator[Target]:
    grpc_port, http_port = free_port(), free_port()
    log = root / "receiver-null.log"
    cmd = [sys.executable, "-c", ingress_receivers.SERVER, str(grpc_port), str(http_port), TOKEN]
    proc = spawn(cmd, log)
    try:
        _wait_log(log, "ready")
        yield Target(
            "receiver-null",
            f"127.0.0.1:{grpc_port}",
            f"http://127.0.0.1:{http_port}/v1/logs",
            {"receiver": proc.pid},
            token=TOKEN,
        )
    finally:
        stop(proc)


@contextlib.contextmanager
def rotel_blackhole(root: Path) -> Iterator[Target]:
    with rotel(root / "rotel-blackhole.log", ["--exporter", "blackhole"]) as (proc, g, h):
        yield Target(
            "rotel-blackhole",
            f"127.0.0.1:{g}",
            f"http://127.0.0.1:{h}/v1/logs",
            {"receiver": proc.pid},
        )


@contextlib.contextmanager
def rotel_forward(root: Path) -> Iterator[Target]:
    with (
        rotel(root / "rotel-null.log", ["--exporter", "blackhole"]) as (sink, sink_grpc, _),
        rotel(
            root / "rotel-forward.log",
            [
                "--exporter", "otlp",
                "--otlp-exporter-endpoint", f"http://127.0.0.1:{sink_grpc}",
                "--otlp-exporter-protocol", "grpc",
            ],
        ) as (proc, g, h),
    ):  # fmt: skip
        yield Target(
            "rotel-forward",
            f"127.0.0.1:{g}",
            f"http://127.0.0.1:{h}/v1/logs",
            {"receiver": proc.pid, "null-receiver": sink.pid},
        )


def start(name: str, root: Path, redis_url: str) -> contextlib.AbstractContextManager[Target]:
    if name == "embedded":
        return embedded(root)
    if name == "redis":
        return redis_durable(root, redis_url)
    if name == "postgres":
        return postgres(root)
    if name == "receiver-null":
        return receiver_null(root)
    if name == "rotel-blackhole":
        return rotel_blackhole(root)
    if name == "rotel-forward":
        return rotel_forward(root)
    raise ValueError(f"unknown target {name!r}")
