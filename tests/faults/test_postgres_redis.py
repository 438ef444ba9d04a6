"""Receiver-only serve, two PostgreSQL workers, Redis with AOF, all our own processes,
a steady load: a worker SIGKILLed, Redis SIGKILLed and restarted, PostgreSQL stopped
for 30 s. Afterwards every acknowledged line is stored exactly once; while PostgreSQL was
down /readyz said why, receivers refused (retryable) and history failed fast with 503.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.faults.servers import PrivatePostgres, PrivateRedis
from tests.faults.support import Load, Service, wait_for
from tests.redis_support import RedisTarget

pytestmark = pytest.mark.e2e


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres()
    pg.init()
    yield pg
    pg.destroy()


def _stored(dsn: str) -> tuple[int, int]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            'SELECT count(*), count(DISTINCT ("TaskRunId", "Seq")) FROM public.otel_logs'
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_worker_kill_redis_restart_and_postgres_down_lose_nothing(
    tmp_path: Path, postgres: PrivatePostgres
) -> None:
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    exporters = (
        f"  postgres:\n    dsn: {postgres.dsn}\n    connect_timeout: 2s\n"
        "    batch: {send_batch_max_size: 5000, timeout_ms: 100}\n"
        "    retry_on_failure: {initial_interval_ms: 100, max_interval_ms: 1000,"
        " max_elapsed_time_s: 2}\n"
    )
    svc = Service(tmp_path, exporters, "postgres", redis=RedisTarget(server.url, False, "pgfaults"))
    svc.write()
    load = Load(svc.endpoint, tasks=4, per_request=100, rate=1500)
    try:
        svc.serve("--no-writers")
        svc.worker("worker1")
        svc.worker("worker2")
        load.start()
        time.sleep(4)

        svc.kill("worker1")  # its batch in flight is claimed and replayed by worker2
        time.sleep(4)

        server.kill()  # Redis SIGKILL: receivers refuse (UNAVAILABLE) until it is back
        time.sleep(2)
        server.start()  # same port, same AOF
        time.sleep(4)

        postgres.stop()
        down = time.monotonic()
        reasons: list[str] = []

        def not_ready() -> bool:
            code, body = svc.readyz()
            reasons[:] = body.get("reasons", []) if code == 503 else []
            return any("PostgreSQL" in r for r in reasons)

        wait_for(not_ready, 20, "/readyz to say PostgreSQL is down")
        url = f"{svc.api}/api/v1/tasks/{load.tasks[0]}/logs"
        # The first query may meet a pooled connection the shutdown terminated.
        assert httpx.get(url, timeout=30).status_code == 503
        started = time.monotonic()
        resp = httpx.get(url, timeout=30)
        assert resp.status_code == 503
        assert "unreachable" in resp.json()["detail"]
        assert time.monotonic() - started < 8  # fails fast, not the 30 s pool timeout
        refused = sum(load.refusals.values())
        time.sleep(max(0.0, 30 - (time.monotonic() - down)))
        assert sum(load.refusals.values()) > refused  # refused upstream meanwhile
        postgres.start()
        wait_for(lambda: svc.readyz()[0] == 200, 60, "ready after PostgreSQL is back")
        time.sleep(3)
        load.finish()

        def drained() -> bool:
            _total, distinct = _stored(postgres.dsn)
            return distinct >= load.acked_lines

        wait_for(drained, 120, "every acknowledged line to be stored")
        time.sleep(1)
    finally:
        load.stopping.set()
        svc.stop_all()
        server.stop()
    total, distinct = _stored(postgres.dsn)
    assert load.acked_lines > 2_000
    assert distinct == load.acked_lines
    # A request whose answer was lost (DEADLINE_EXCEEDED) is resent with a new dedup
    # token: until reads deduplicate by (task run, seq) the store may hold it twice.
    assert total - distinct <= load.resent * load.per_request, (total, distinct, load.resent)
    assert "dead" not in svc.log("worker2").lower() or "dead consumer" in svc.log("worker2")
