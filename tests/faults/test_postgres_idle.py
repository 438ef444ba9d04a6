"""PostgreSQL down while nothing is being written: /readyz still says so (the store is
probed), and history answers 503 with the reason at once, not after the pool timeout."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.faults.servers import PrivatePostgres
from tests.faults.support import Service, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres()
    pg.init()
    yield pg
    pg.destroy()


def test_an_idle_service_is_not_ready_while_postgres_is_down(
    tmp_path: Path, postgres: PrivatePostgres
) -> None:
    svc = Service(tmp_path, f"  postgres:\n    dsn: {postgres.dsn}\n", "postgres")
    svc.write()
    try:
        svc.serve()
        postgres.stop()
        reasons: list[str] = []

        def not_ready() -> bool:
            code, body = svc.readyz()
            reasons[:] = body.get("reasons", []) if code == 503 else []
            return any("PostgreSQL" in r and "unreachable" in r for r in reasons)

        wait_for(not_ready, 30, "/readyz to say PostgreSQL is unreachable")
        url = f"{svc.api}/api/v1/tasks/idle/logs"
        httpx.get(url, timeout=30)  # may meet a pooled connection the shutdown ended
        started = time.monotonic()
        resp = httpx.get(url, timeout=30)
        assert resp.status_code == 503
        assert "unreachable" in resp.json()["detail"]
        assert time.monotonic() - started < 8
        postgres.start()
        wait_for(lambda: svc.readyz()[0] == 200, 60, "ready again")
    finally:
        svc.stop_all()
