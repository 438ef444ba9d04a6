"""The real Collector's retry honours tasklogs' refusals and nothing is lost.

- 429: receivers run with no writer (``serve --no-writers``) over a Redis ingest stream
  bounded at a few entries, so the Collector is refused with 429 + ``Retry-After`` until
  a ``tasklogs worker`` starts draining; then every line arrives, once.
- 503: the durable queue (a Redis of the test's own, append-only) goes away while the
  Collector sends; tasklogs answers 503 + ``Retry-After``; Redis comes back on the same
  port and every line arrives, once.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.interop.support import Otelcol, metric, start_tasklogs, wait_until
from tests.interop.test_otelcol_filelog import AGENT, task_file
from tests.redis_support import SHARED_URL
from tests.support import FAST_BATCH, free_port, serve_yaml, start_serve, tasklogs_cmd

pytestmark = pytest.mark.e2e

#: Small requests, so a few thousand lines make many Export calls.
SMALL_BATCHES = (
    "processors::batch::send_batch_size=100",
    "processors::batch::send_batch_max_size=100",
    "processors::batch::timeout=20ms",
)
LINES = 3000


def _config(root: Path, redis_url: str, prefix: str, backlog: int) -> tuple[Path, int, int, int]:
    grpc_port, http_port, api_port = free_port(), free_port(), free_port()
    redis = f"""redis:
  url: {redis_url}
  key_prefix: {prefix}
  ingest: {{max_backlog_entries: {backlog}, block_ms: 200, heartbeat_timeout_s: 1}}
"""
    text = serve_yaml(
        grpc_port, api_port, redis, http_port=http_port, exporter="ttl: none, " + FAST_BATCH
    )
    config = root / "tasklogs.yaml"
    config.write_text(text, encoding="utf-8")
    return config, grpc_port, http_port, api_port


def _spawn(root: Path, name: str, config: Path, *args: str) -> subprocess.Popen[bytes]:
    with (root / f"{name}.log").open("ab") as log:
        return subprocess.Popen(
            tasklogs_cmd(*args, "--config", str(config), "--data-dir", str(root / "data")),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def _ready(api: str) -> bool:
    try:
        return httpx.get(f"{api}/readyz", timeout=1).is_success
    except httpx.HTTPError:
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _write_lines(path: Path, first: int, last: int) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.writelines(f"line {i}\n" for i in range(first, last + 1))


def _accepted(api: str) -> float:
    return metric(
        api, "tasklogs_receiver_accepted_log_records_total", receiver="otlp", transport="http"
    )


def _refused(api: str, reason: str) -> float:
    return metric(
        api,
        "tasklogs_receiver_refused_log_records_total",
        receiver="otlp",
        transport="http",
        reason=reason,
    )


@pytest.fixture
def prefix() -> Iterator[str]:
    key_prefix = f"t{uuid.uuid4().hex[:10]}"
    yield key_prefix
    client = redis.Redis.from_url(SHARED_URL)
    try:
        for key in list(client.scan_iter(match=f"{{{key_prefix}:*", count=1000)):
            client.delete(key)
    finally:
        client.close()


def test_429_until_a_writer_drains_then_every_line_once(tmp_path: Path, prefix: str) -> None:
    config, grpc_port, http_port, api_port = _config(tmp_path, SHARED_URL, prefix, backlog=3)
    api = f"http://127.0.0.1:{api_port}"
    log_dir = tmp_path / "tasks"
    trid = f"tr-{uuid.uuid4()}"
    path = task_file(log_dir, trid)
    _write_lines(path, 1, LINES)
    receivers = _spawn(tmp_path, "serve", config, "serve", "--no-writers")
    procs = [receivers]
    agent: Otelcol | None = None
    try:
        wait_until(lambda: _ready(api) or receivers.poll() is not None, 60, "serve ready")
        agent = Otelcol.start(
            AGENT,
            tmp_path / "otelcol.log",
            env={
                "TASKLOGS_LOG_DIR": str(log_dir),
                "TASKLOGS_OTLP_HTTP": f"http://127.0.0.1:{http_port}",
            },
            sets=SMALL_BATCHES,
        )
        # Nothing drains the stream: past 3 entries every Export is refused with 429.
        wait_until(lambda: _refused(api, "backpressure") >= 200, 30, "429 refusals")
        taken = _accepted(api)  # the 3 entries the stream holds
        assert 0 < taken < LINES
        time.sleep(2)  # the Collector keeps retrying, and still nothing more is taken
        assert _accepted(api) == taken
        procs.append(_spawn(tmp_path, "worker", config, "worker"))
        wait_until(lambda: _accepted(api) == LINES, 90, f"{LINES} lines accepted")
        assert "Dropping data" not in agent.log_text()
        assert "429" in agent.log_text()  # the Collector saw the refusal and retried
    finally:
        if agent is not None:
            agent.stop()
        for proc in reversed(procs):
            _stop(proc)
    # Read back through a serve that writes and answers history from the same store.
    svc = start_serve(
        config,
        tmp_path / "data",
        grpc_port=grpc_port,
        api_port=api_port,
        log_path=tmp_path / "serve2.log",
    )
    try:
        records = svc.wait_for(trid, LINES, timeout=60)
    finally:
        svc.stop()
    assert [r["body"] for r in records] == [f"line {i}" for i in range(1, LINES + 1)]
    assert [r["seq"] for r in records] == list(range(1, LINES + 1))


def test_a_request_larger_than_the_queue_is_taken_or_refused_for_good(tmp_path: Path) -> None:
    """The Collector's batch (1,000 lines) exceeds tasklogs' in-process queue (300
    records): tasklogs must split it (every line stored) or refuse it with a
    non-retryable error (the Collector then drops it at once, saying why), never send a
    429 that no retry can satisfy."""
    svc = start_tasklogs(tmp_path, exporter_extra="sending_queue: {queue_size: 300}")
    log_dir = tmp_path / "tasks"
    trid = f"tr-{uuid.uuid4()}"
    _write_lines(task_file(log_dir, trid), 1, 1000)
    env = {"TASKLOGS_LOG_DIR": str(log_dir), "TASKLOGS_OTLP_HTTP": svc.http_url}
    big = ("processors::batch::send_batch_size=1000", "processors::batch::timeout=2s")
    agent = Otelcol.start(AGENT, tmp_path / "otelcol.log", env=env, sets=big)
    try:
        deadline = time.monotonic() + 12
        stored: list[dict[str, object]] = []
        permanent = False
        while time.monotonic() < deadline and len(stored) < 1000 and not permanent:
            time.sleep(0.5)
            stored = svc.service.history(trid)
            permanent = "not retryable" in agent.log_text() or "Permanent" in agent.log_text()
    finally:
        agent.stop()
        svc.service.stop()
    assert len(stored) == 1000 or permanent, (len(stored), agent.log_text()[-2000:])


class _Redis:
    """A redis-server of this test's own, append-only, that can go away and come back."""

    def __init__(self, root: Path) -> None:
        self.root, self.port = root, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            pytest.fail("redis-server is needed for the 503 test")
        args = [server, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.root)]
        args += ["--save", "", "--appendonly", "yes", "--appendfsync", "always"]
        with (self.root / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)

        def up() -> bool:
            try:
                with redis.Redis(port=self.port) as client:
                    return bool(client.ping())
            except redis.RedisError:
                return False

        wait_until(up, 30, "redis-server up")

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)


def test_503_while_the_durable_queue_is_down_then_every_line_once(tmp_path: Path) -> None:
    rds = _Redis(tmp_path)
    rds.start()
    config, grpc_port, http_port, api_port = _config(
        tmp_path, f"redis://127.0.0.1:{rds.port}/0", "tl", backlog=2048
    )
    log_dir = tmp_path / "tasks"
    trid = f"tr-{uuid.uuid4()}"
    path = task_file(log_dir, trid)
    svc = start_serve(
        config,
        tmp_path / "data",
        grpc_port=grpc_port,
        api_port=api_port,
        log_path=tmp_path / "serve.log",
    )
    agent: Otelcol | None = None
    try:
        agent = Otelcol.start(
            AGENT,
            tmp_path / "otelcol.log",
            env={
                "TASKLOGS_LOG_DIR": str(log_dir),
                "TASKLOGS_OTLP_HTTP": f"http://127.0.0.1:{http_port}",
            },
            sets=SMALL_BATCHES,
        )
        _write_lines(path, 1, 1000)
        assert len(svc.wait_for(trid, 1000, timeout=60)) == 1000
        rds.stop()
        _write_lines(path, 1001, LINES)
        wait_until(lambda: _refused(svc.api_url, "unavailable") > 0, 30, "503 refusals")
        time.sleep(1)
        rds.start()
        records = svc.wait_for(trid, LINES, timeout=90)
        assert "Dropping data" not in agent.log_text()
        assert "503" in agent.log_text()
    finally:
        if agent is not None:
            agent.stop()
        svc.stop()
        rds.stop()
    assert [r["body"] for r in records] == [f"line {i}" for i in range(1, LINES + 1)]
    assert [r["seq"] for r in records] == list(range(1, LINES + 1))
