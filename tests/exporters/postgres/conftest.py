"""Fixtures of the PostgreSQL store tests: the real server, one schema per test.

``POSTGRES_DSN`` (default ``postgresql://127.0.0.1:5432/test``) names the server. Every
test gets a schema of its own (``t_<uuid>``), dropped afterwards: others share the server.
A missing server fails the tests loudly; nothing is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tasklogs_postgres import PostgresConfig, PostgresExporter
from tests.exporters.postgres.support import drop_schema, postgres_dsn, unique_schema


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    return postgres_dsn()


@pytest.fixture
def pg_schema(pg_dsn: str) -> Iterator[str]:
    name = unique_schema()
    yield name
    drop_schema(pg_dsn, name)


@pytest.fixture
def make_config(pg_dsn: str, pg_schema: str) -> Callable[..., PostgresConfig]:
    def make(**overrides: Any) -> PostgresConfig:
        return PostgresConfig.model_validate(
            {"dsn": pg_dsn, "schema": pg_schema, "ttl": "none", **overrides}
        )

    return make


@pytest.fixture
def pg_store(make_config: Callable[..., PostgresConfig]) -> Iterator[PostgresExporter]:
    store = PostgresExporter(make_config())
    store.start()
    yield store
    store.shutdown()
