"""The stores the contract suite runs against: one opener per backend.

An opener yields a fresh, empty, started store (its own database / schema) and removes
it afterwards. Add a backend by adding an opener to :data:`BACKENDS`, e.g.::

    @contextmanager
    def _open_clickhouse(request: pytest.FixtureRequest) -> Iterator[ContractStore]:
        dsn = request.getfixturevalue("clickhouse_dsn")
        ...  # a ClickHouseExporter on a database of its own, started; dropped afterwards
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

import clickhouse_connect
import pytest

from collector_service.component.model import LogBatch
from collector_service.component.store import HistoryPage, HistoryQuery, RetentionReport
from tasklogs_clickhouse import ClickHouseConfig, ClickHouseExporter

__all__ = ["BACKENDS", "ContractStore"]


class ContractStore(Protocol):
    """What the suite needs of a store: the exporter's write side and the read side."""

    def push(self, batch: LogBatch) -> None: ...

    def query(self, query: HistoryQuery) -> HistoryPage: ...

    def retention_report(self) -> RetentionReport: ...


Opener = Callable[[pytest.FixtureRequest], AbstractContextManager[ContractStore]]


#: Each store's branch registers its opener here (``"clickhouse"``, ``"postgres"``).
BACKENDS: dict[str, Opener] = {}


@contextmanager
def _open_clickhouse(request: pytest.FixtureRequest) -> Iterator[ContractStore]:
    """A ClickHouseExporter on a database of its own (chDB, or CLICKHOUSE_URL), dropped after."""
    dsn = str(request.getfixturevalue("clickhouse_dsn"))
    database = f"c_{uuid.uuid4().hex[:12]}"
    store = ClickHouseExporter(ClickHouseConfig(database=database, ttl=None), dsn)
    store.start()
    try:
        yield store
    finally:
        store.shutdown()
        client = clickhouse_connect.get_client(dsn=dsn)
        try:
            client.command(f"DROP DATABASE IF EXISTS `{database}`")
        finally:
            client.close()


BACKENDS["clickhouse"] = _open_clickhouse


def _register_postgres() -> None:
    from tests.exporters.postgres.support import open_postgres_store

    BACKENDS["postgres"] = open_postgres_store


_register_postgres()
