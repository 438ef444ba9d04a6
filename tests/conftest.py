"""Fixtures shared by the whole suite.

- ``service``: a real `tasklogs serve` process on free loopback ports.
- ``clickhouse_dsn`` / ``database`` / ``store``: the ClickHouse store under test (imported
  only by the tests that use it: the producer's tests need no store installed): chDB in
  this process, or a server from ``CLICKHOUSE_URL``. chDB allows one data directory per
  process, so the session shares one and every test gets a database of its own. With
  ``CLICKHOUSE_URL=http://user:pass@host:8123`` the same tests run against that server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support import RunningService, serve_in

if TYPE_CHECKING:
    from tasklogs_clickhouse import ClickHouseExporter


@pytest.fixture
def service(tmp_path: Path) -> Iterator[RunningService]:
    svc = serve_in(tmp_path).svc
    yield svc
    svc.stop()


@pytest.fixture(scope="session")
def clickhouse_dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    return os.environ.get("CLICKHOUSE_URL") or f"chdb://{tmp_path_factory.mktemp('chdb') / 'db'}"


@pytest.fixture
def database(clickhouse_dsn: str) -> Iterator[str]:
    """A database of this test's own, dropped afterwards (a shared server stays clean)."""
    import clickhouse_connect

    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    client = clickhouse_connect.get_client(dsn=clickhouse_dsn)
    try:
        client.command(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        client.close()


@pytest.fixture
def store(clickhouse_dsn: str, database: str) -> Iterator[ClickHouseExporter]:
    from tasklogs_clickhouse import ClickHouseConfig, ClickHouseExporter

    exporter = ClickHouseExporter(ClickHouseConfig(database=database, ttl=None), clickhouse_dsn)
    exporter.start()
    yield exporter
    exporter.shutdown()
