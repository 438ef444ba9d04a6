"""Configuration of the PostgreSQL exporter (validated before any I/O)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from collector_service.component.config import Duration

__all__ = ["IDENTIFIER_RE", "PostgresConfig", "redact_dsn"]

#: Schema and table names from config. Table names leave room for the suffixes of the
#: partitions (``_pYYYYMMDD``) and indexes within PostgreSQL's 63-byte identifier limit.
IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")


class PostgresConfig(BaseModel):
    """``exporters.postgres`` in the service config.

    ``dsn`` is a libpq connection string or URI (``postgresql://user:pw@host:5432/db``).
    Rows live in ``<schema>.<table>``, range-partitioned by day on ``Timestamp``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    dsn: str
    #: ``schema`` in YAML (the Python name avoids pydantic's ``BaseModel.schema``).
    db_schema: str = Field(default="public", alias="schema")
    table: str = "otel_logs"
    #: Create the schema, tables and indexes (versioned migrations) at start.
    create_schema: bool = True
    #: Partitions whose whole day is older than this are dropped: seven days by default;
    #: ``none`` keeps every partition.
    ttl: Duration | None = timedelta(hours=168)
    #: Daily partitions the maintenance loop keeps created ahead of today.
    partitions_ahead: int = Field(default=2, ge=0, le=366)
    #: How often the maintenance loop creates partitions and applies retention.
    maintenance_interval: Duration = timedelta(hours=1)
    #: How long a batch token is remembered for deduplication of replayed batches.
    dedup_window: Duration = timedelta(days=7)
    #: ``trgm``: a pg_trgm GIN index serves ``text`` (ILIKE) and regex filters on Body.
    #: ``none``: no text index (smaller, faster writes; text filters scan one task's rows).
    text_index: Literal["trgm", "none"] = "trgm"
    #: Schema that holds the pg_trgm extension (created there when missing).
    extension_schema: str = "public"
    pool_min_size: int = Field(default=1, ge=0, le=100)
    pool_max_size: int = Field(default=4, ge=1, le=100)
    connect_timeout: Duration = timedelta(seconds=10)
    #: Longest wait for a table lock when creating or dropping a partition.
    lock_timeout: Duration = timedelta(seconds=10)

    @field_validator("db_schema", "table", "extension_schema")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not IDENTIFIER_RE.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a valid name: letters, digits and '_' (not first), "
                "at most 40 characters"
            )
        return value

    @field_validator("dsn")
    @classmethod
    def _dsn(cls, value: str) -> str:
        try:
            conninfo_to_dict(value)
        except psycopg.ProgrammingError as exc:
            raise ValueError(f"invalid PostgreSQL dsn: {exc}") from None
        return value

    @field_validator("maintenance_interval", "connect_timeout", "lock_timeout")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value.total_seconds() < 0.01:
            raise ValueError("must be at least 10ms")
        return value

    @field_validator("ttl", mode="before")
    @classmethod
    def _forever(cls, value: object) -> object:
        return None if isinstance(value, str) and value.strip().lower() == "none" else value

    @field_validator("ttl", "dedup_window")
    @classmethod
    def _ttl(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value.total_seconds() < 1:
            raise ValueError("must be at least 1s (ttl: none keeps everything)")
        return value

    @model_validator(mode="after")
    def _pool(self) -> PostgresConfig:
        if self.pool_min_size > self.pool_max_size:
            raise ValueError("pool_min_size must not exceed pool_max_size")
        return self

    def conninfo(self) -> str:
        """The DSN with the connect timeout and an application name applied."""
        return make_conninfo(
            self.dsn,
            connect_timeout=max(1, int(self.connect_timeout.total_seconds())),
            application_name="tasklogs-postgres",
        )


def redact_dsn(dsn: str) -> str:
    """The DSN as a person may see it in an error: the password replaced by ``***``."""
    if dsn.startswith(("postgresql://", "postgres://")):
        parsed = urlsplit(dsn)
        if parsed.password:
            netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@", 1)
            dsn = urlunsplit(parsed._replace(netloc=netloc))
        return re.sub(r"(?i)(password=)[^&]*", r"\1***", dsn)
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparsable dsn>"
    if "password" in params:
        params["password"] = "***"  # noqa: S105 - the redaction marker, not a secret
    return " ".join(f"{k}={v}" for k, v in params.items() if v is not None)
