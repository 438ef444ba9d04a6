"""Durability through real processes: Redis, `tasklogs serve`, `tasklogs worker`, chDB.

Every acknowledged record ends up stored exactly once across a SIGKILLed writer; a store
outage of 10 s loses nothing; a flood past the backlog bound is refused while the
receiver's memory stays flat; shutdown drains within its bound. The writer tests run on
the shared Redis and on a throwaway 3-master Redis Cluster.
"""

from __future__ import annotations

import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx
import pytest

from tests.e2e.durability_support import (
    Deployment,
    SendThread,
    count_rows,
    request,
    rss_kib,
    send,
    stop,
    stream_len,
)
from tests.redis_support import RedisTarget, redis_cluster_url, redis_target
from tests.support import free_port, tasklogs_cmd

__all__ = ["redis_cluster_url", "redis_target"]  # fixtures used by this module

pytestmark = pytest.mark.e2e

_BATCH = {"batch": {"send_batch_max_size": 20000, "timeout_ms": 100}}


def _payloads(tasks: int, requests_per_task: int, per_request: int) -> list[tuple[bytes, int]]:
    out = []
    for r in range(requests_per_task):
        for t in range(tasks):
            out.append((request(f"task-{t}", r * per_request + 1, per_request), per_request))
    return out


def test_sigkilled_writer_loses_nothing_and_stores_once(
    redis_target: RedisTarget, tmp_path: Path
) -> None:
    dep = Deployment(tmp_path, redis_target, exporter_yaml=str(_BATCH).replace("'", ""))
    dep.write()
    try:
        dep.serve()
        first = dep.worker("worker1")
        sender = SendThread(dep.endpoint, _payloads(4, 20, 500), pause=0.01)  # 40,000 records
        sender.start()
        time.sleep(1.5)
        first.send_signal(signal.SIGKILL)  # mid-stream, batches in flight
        first.wait(timeout=10)
        dep.worker("worker2")
        sender.join(timeout=180)
        assert sender.error is None, sender.error
        assert sender.result is not None
        assert sender.result.acked == 40_000
        dep.wait_drained()
        code, _ = stop(dep.procs[-1])
        assert code == 0, dep.log("worker2")
    finally:
        dep.stop_all()
    total, distinct = count_rows(dep.data_dir)
    assert distinct == 40_000  # every acknowledged record is stored...
    assert total == 40_000  # ...exactly once


def _register_flaky(root: Path) -> str:
    """A real entry point for tests/e2e/flaky_store.py, on the worker's PYTHONPATH."""
    site = root / "plugins"
    info = site / "tasklogs_flaky_store-0.0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: tasklogs-flaky-store\nVersion: 0.0.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "[tasklogs.exporters]\nflaky = tests.e2e.flaky_store:factory\n", encoding="utf-8"
    )
    return str(site)


def _readyz(dep: Deployment) -> tuple[int, dict[str, list[str]]]:
    resp = httpx.get(f"http://127.0.0.1:{dep.api_port}/readyz", timeout=5)
    return resp.status_code, resp.json()


def test_store_down_for_ten_seconds_loses_nothing_and_stop_is_bounded(tmp_path: Path) -> None:
    target = RedisTarget("redis://127.0.0.1:6379/0", False, f"t{uuid.uuid4().hex[:10]}")
    outage = tmp_path / "store-is-down"
    dep = Deployment(
        tmp_path,
        target,
        exporter="flaky",
        exporter_yaml=(
            f'{{outage_file: "{outage}", batch: {{timeout_ms: 100}}, '
            "retry_on_failure: {initial_interval_ms: 200, max_interval_ms: 1000}}"
        ),
    )
    dep.env["PYTHONPATH"] = _register_flaky(tmp_path)
    dep.write()
    try:
        outage.touch()
        dep.serve()
        first = dep.worker("worker")
        # 12,000 records; once the writer finds the store down, receivers refuse the
        # rest (UNAVAILABLE, retried by the sender) rather than pile it up in Redis.
        sender = SendThread(dep.endpoint, _payloads(3, 10, 400), pause=0.0)
        sender.start()
        time.sleep(10)  # the store stays down for 10 s; the writer keeps retrying
        assert dep.backlog()[1] > 0  # still pending, nothing acknowledged to Redis
        assert dep.log("worker").count("retrying in") >= 5
        code_, body = _readyz(dep)
        assert code_ == 503, body
        assert "store unavailable" in " ".join(body["reasons"])
        # A graceful stop during the outage is bounded: the batch in backoff is left
        # pending (not dropped, not dead-lettered) for the next writer.
        code, took = stop(first)
        assert code == 0, dep.log("worker")
        assert took < 20, took
        assert dep.backlog()[1] > 0
        outage.unlink()
        metrics_port = free_port()
        dep.worker("worker2", "--metrics-endpoint", f"127.0.0.1:{metrics_port}")
        sender.join(timeout=180)
        assert sender.error is None, sender.error
        assert sender.result is not None
        assert sender.result.acked == 12_000
        dep.wait_drained()
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        code, _ = stop(dep.procs[-1])
        assert code == 0
    finally:
        dep.stop_all()
        _cleanup(target)
    assert count_rows(dep.data_dir) == (12_000, 12_000)
    # The successor's own metrics: everything it wrote, batch sizes, end-to-end lag.
    assert 'tasklogs_exporter_sent_log_records_total{exporter="flaky"} 12000.0' in scraped
    assert 'tasklogs_processor_batch_batch_send_size_count{exporter="flaky"}' in scraped
    assert 'tasklogs_exporter_lag_seconds_count{exporter="flaky"} 30.0' in scraped


def test_serve_with_in_process_writers(tmp_path: Path) -> None:
    """Redis configured, writers inside `tasklogs serve`: history through its API."""
    target = RedisTarget("redis://127.0.0.1:6379/0", False, f"t{uuid.uuid4().hex[:10]}")
    dep = Deployment(tmp_path, target, exporter_yaml="{batch: {timeout_ms: 50}}")
    dep.write()
    try:
        serve = dep.serve(writers=True)
        assert send(dep.endpoint, _payloads(2, 3, 100)).acked == 600
        dep.wait_drained()
        resp = httpx.get(
            f"http://127.0.0.1:{dep.api_port}/api/v1/tasks/task-1/logs",
            params={"limit": 1000},
            timeout=10,
        )
        assert resp.status_code == 200
        assert len(resp.json()["records"]) == 300
        code, took = stop(serve)
        assert code == 0, dep.log("serve")
        assert took < 15
        assert "no Redis configured" not in dep.log("serve")
    finally:
        dep.stop_all()
        _cleanup(target)


def test_flood_past_the_backlog_is_refused_with_flat_memory(
    redis_target: RedisTarget, tmp_path: Path
) -> None:
    target = redis_target
    dep = Deployment(tmp_path, target, ingest={"max_backlog_entries": 40})
    dep.write()
    try:
        serve = dep.serve()  # no writer at all: nothing drains the stream
        payload = request("flood", 1, 1000)  # ~200 KB per Export
        send(dep.endpoint, [(payload, 1000)] * 5, retry=False)  # warm up before measuring
        before = rss_kib(serve.pid)
        with ThreadPoolExecutor(4) as pool:
            results = list(
                pool.map(
                    lambda _: send(dep.endpoint, [(payload, 1000)] * 100, retry=False), range(4)
                )
            )
        after = rss_kib(serve.pid)
        acked = sum(r.acked for r in results)
        refused = sum(r.refused for r in results)
        assert acked == 35_000  # the bound, less the warm-up
        assert refused == 365_000  # 80 MB offered; everything past the bound refused
        assert {c for r in results for c in r.codes} == {grpc.StatusCode.RESOURCE_EXHAUSTED}
        assert stream_len(target) == 40
        assert after - before < 60 * 1024, (before, after)  # KiB: the refusals are not held
        assert serve.poll() is None
    finally:
        dep.stop_all()


def test_embedded_shutdown_drains_within_its_bound(tmp_path: Path) -> None:
    """No Redis: SIGTERM right after the last acknowledgement; every record is written."""
    grpc_port, api_port = free_port(), free_port()
    config = tmp_path / "tasklogs.yaml"
    config.write_text(
        f"""
receivers: {{otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{grpc_port}"}}}}}}}}
exporters: {{clickhouse: {{batch: {{timeout_ms: 5000}}}}}}
api: {{endpoint: "127.0.0.1:{api_port}"}}
""",
        encoding="utf-8",
    )
    data_dir = tmp_path / "data"
    log = tmp_path / "serve.log"
    import subprocess

    with log.open("wb") as out:
        proc = subprocess.Popen(
            tasklogs_cmd("serve", "--config", str(config), "--data-dir", str(data_dir)),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{api_port}/readyz", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.1)
        result = send(f"127.0.0.1:{grpc_port}", _payloads(2, 10, 500))
        assert result.acked == 10_000
        code, took = stop(proc)  # the 5 s linger is cut short by the drain
        assert code == 0, log.read_text()
        assert took < 15, took
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert count_rows(data_dir) == (10_000, 10_000)


def _cleanup(target: RedisTarget) -> None:
    client = target.client()
    try:
        for key in list(client.scan_iter(match=f"{{{target.key_prefix}:*", count=1000)):
            client.delete(key)
    finally:
        client.close()
