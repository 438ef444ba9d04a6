"""Configuration of the ClickHouse exporter (validated before any I/O)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from collector_service.component.config import Duration
from collector_service.errors import ConfigError
from tasklogs_clickhouse._engine import EngineMemory
from tasklogs_clickhouse._sql import IDENTIFIER_RE

__all__ = ["ClickHouseConfig"]


class ClickHouseConfig(BaseModel):
    """``exporters.clickhouse`` in the service config.

    ``dsn`` selects the engine: ``chdb:///path`` (embedded, the default, under the
    service's data directory) or ``http(s)://user:password@host:8123`` for a server.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    dsn: str | None = None
    database: str = "default"
    table: str = "otel_logs"
    #: Create the database and table when missing. ``false`` writes into an existing table
    #: (e.g. one the contrib exporter created), using whatever columns it has.
    create_schema: bool = True
    #: Keep the runs index (a materialized view into ``<table>_task_runs``, see
    #: docs/read-api.md). Unset: as ``create_schema``. On a table another writer created
    #: (``create_schema: false``) set it ``true`` to add the view and index beside it (the
    #: rows already there are indexed once, at creation); without it the runs routes
    #: answer 503 and tenancy falls back to the task's first stored record.
    runs_index: bool | None = None
    #: Rows older than this are dropped by ClickHouse (whole parts, ``ttl_only_drop_parts``).
    #: Seven days by default; ``none`` keeps rows forever.
    ttl: Duration | None = Field(default=timedelta(hours=168))
    #: ClickHouse cluster (``remote_servers``): DDL runs ``ON CLUSTER``, rows go to a
    #: ``ReplicatedMergeTree`` table ``<table>_local`` on every node, and writes and reads
    #: go through a ``Distributed`` table ``<table>`` sharded by task run.
    cluster_name: str | None = None
    #: Skip index on ``Body``: ``auto`` picks the engine's text (inverted) index where it
    #: has one and ``tokenbf_v1`` otherwise; ``none`` trades text search speed for about
    #: a third less insert work per row (see bench/clickhouse_insert.py).
    body_index: Literal["auto", "text", "tokenbf", "none"] = "auto"
    #: Recent insert blocks a non-replicated table remembers for deduplication (a batch
    #: replayed with the same token within this many inserts is stored once).
    dedup_window: int = Field(default=1000, ge=0)
    #: A projection of the table in pipeline-run order, so a run's first page reads a few
    #: granules in order instead of sorting the whole run (costs a second copy of the rows
    #: and more insert work; ``false`` leaves it out of a new table).
    run_projection: bool = True
    #: Connections for history queries, apart from the writer's: a slow query never
    #: holds up inserts, and at most this many queries run at once.
    reader_connections: int = Field(default=3, ge=1, le=64)
    #: How long a query waits for a free reader connection before it is refused.
    query_wait_s: float = Field(default=10.0, gt=0)
    #: Memory bounds of the embedded engine (chDB only): its caches, merges and total,
    #: instead of the ClickHouse server's RAM-sized defaults (see ``_engine``).
    engine: EngineMemory = EngineMemory()

    @field_validator("database", "table", "cluster_name")
    @classmethod
    def _identifier(cls, value: str | None) -> str | None:
        if value is not None and not IDENTIFIER_RE.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a valid identifier: use letters, digits and '_' (not first)"
            )
        return value

    @field_validator("dsn")
    @classmethod
    def _dsn(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("chdb:", "http://", "https://")):
            raise ValueError("dsn must start with chdb://, http:// or https://")
        return value

    @field_validator("ttl", mode="before")
    @classmethod
    def _forever(cls, value: object) -> object:
        return None if isinstance(value, str) and value.strip().lower() == "none" else value

    @field_validator("ttl")
    @classmethod
    def _ttl(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value.total_seconds() < 1:
            raise ValueError("ttl must be at least 1s (or none to keep rows forever)")
        return value

    @property
    def wants_runs_index(self) -> bool:
        return self.create_schema if self.runs_index is None else self.runs_index

    def resolved_dsn(self, data_dir: Path) -> str:
        """The DSN to connect to: the configured one or ``chdb://<data_dir>/chdb``.

        A chDB DSN names a directory: ``chdb:///abs/path`` as it is, and a relative one
        (``chdb://data/x``, ``chdb:x``) relative to ``data_dir``, never a database name.
        """
        if self.dsn is None:
            return f"chdb://{(data_dir / 'chdb').resolve()}"
        if not self.dsn.startswith("chdb:"):
            return self.dsn
        rest = self.dsn[len("chdb:") :]
        if "?" in rest or "#" in rest:
            raise ConfigError(
                f"exporters.clickhouse.dsn: {self.dsn!r}: a chdb DSN takes no options "
                "(chdb:///absolute/dir, or chdb://dir relative to data_dir)"
            )
        if rest.startswith("///") or (rest.startswith("/") and not rest.startswith("//")):
            path = Path("/" + rest.lstrip("/"))
        else:
            relative = rest[2:] if rest.startswith("//") else rest
            if not relative:
                raise ConfigError(f"exporters.clickhouse.dsn: {self.dsn!r} names no directory")
            path = data_dir / relative
        return f"chdb://{path.resolve()}"
