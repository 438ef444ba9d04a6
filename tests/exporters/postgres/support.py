"""Opening a throw-away PostgreSQL store: a schema of its own, dropped afterwards.

Used by this package's fixtures and by the shared store contract suite
(``tests/stores/_backends.py`` registers :func:`open_postgres_store`).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tasklogs_postgres import PostgresConfig, PostgresExporter

__all__ = ["DEFAULT_DSN", "drop_schema", "open_postgres_store", "postgres_dsn", "unique_schema"]

DEFAULT_DSN = "postgresql://127.0.0.1:5432/test"


def postgres_dsn() -> str:
    """The server under test: ``POSTGRES_DSN``, else the local ``test`` database."""
    return os.environ.get("POSTGRES_DSN", DEFAULT_DSN)


def unique_schema() -> str:
    return f"t_{uuid.uuid4().hex[:16]}"


def drop_schema(dsn: str, schema: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@contextmanager
def open_postgres_store(
    request: pytest.FixtureRequest | None = None, **overrides: Any
) -> Iterator[PostgresExporter]:
    """A started store on a fresh schema; the schema is dropped on exit."""
    dsn, schema = postgres_dsn(), unique_schema()
    config = PostgresConfig.model_validate(
        {"dsn": dsn, "schema": schema, "ttl": "none", **overrides}
    )
    store = PostgresExporter(config)
    try:
        store.start()
        yield store
    finally:
        store.shutdown()
        drop_schema(dsn, schema)
