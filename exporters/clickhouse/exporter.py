"""The ClickHouse exporter and store: one code path for chDB and for a server.

``chdb://PATH`` runs the ClickHouse engine in this process (one process owns a chDB
directory: a lock file beside it makes a second owner fail with a clear error);
``http(s)://`` talks to a server. Both go through clickhouse-connect with the same SQL.
Inserts use clickhouse-connect's columnar insert path with a prepared insert context.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, DatabaseError, OperationalError

from collector_service.errors import (
    PermanentExportError,
    RetryableExportError,
    StoreBusyError,
    StoreError,
)
from collector_service.model import COLUMN_NAMES, LogBatch
from collector_service.store import Cursor, HistoryPage, HistoryQuery, StoredLog
from exporters.clickhouse._sql import qualified, quote_identifier, render
from exporters.clickhouse.config import ClickHouseConfig

__all__ = ["ClickHouseExporter"]

_log = logging.getLogger(__name__)
_OPTIONAL_COLUMNS = {"EventName": "''"}


class ClickHouseExporter:
    """Writes :class:`LogBatch` es to ``otel_logs`` and answers history queries."""

    def __init__(self, config: ClickHouseConfig, dsn: str) -> None:
        self.config = config
        self.dsn = dsn
        self._table = qualified(config.database, config.table)
        self._client: Client | None = None
        self._lock = threading.Lock()  # chDB handles are not shared across threads
        self._lock_file: IO[str] | None = None
        self._insert_columns: list[str] = list(COLUMN_NAMES)
        self._exprs: dict[str, str] = {}

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def embedded(self) -> bool:
        return self.dsn.startswith("chdb:")

    def _chdb_path(self) -> Path:
        parsed = urlparse(self.dsn)
        return Path(parsed.netloc + parsed.path)

    def _take_ownership(self) -> None:
        path = self._chdb_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = path.with_name(path.name + ".lock")
        handle = lock_path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            raise StoreBusyError(
                f"chDB directory {path} is owned by another process (pid {owner}); "
                "read it through that process's API (e.g. `tasklogs logs --api URL`) "
                "or stop it first"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock_file = handle

    def start(self) -> None:
        """Connect, create the schema if configured, and learn the table's columns."""
        if self.embedded:
            self._take_ownership()
        try:
            # No HTTP session: concurrent reads and writes must not contend for one.
            extra: dict[str, Any] = {} if self.embedded else {"autogenerate_session_id": False}
            self._client = clickhouse_connect.get_client(dsn=self.dsn, **extra)
            if self.config.create_schema:
                self._create_schema()
            self._learn_columns()
        except ClickHouseError as exc:
            self.shutdown()
            raise StoreError(f"ClickHouse at {_redact(self.dsn)}: {exc}") from exc
        except BaseException:
            self.shutdown()
            raise
        _log.info("ClickHouse store ready: %s table %s", _redact(self.dsn), self._table)

    def _create_schema(self) -> None:
        client = self._require_client()
        if self.config.database != "default":
            client.command(
                render("create_database", database=quote_identifier(self.config.database))
            )
        ttl = ""
        if self.config.ttl is not None:
            ttl = f"TTL TimestampTime + toIntervalSecond({int(self.config.ttl.total_seconds())})"
        client.command(render("create_table", table=self._table, ttl=ttl))

    def _learn_columns(self) -> None:
        rows = self._require_client().query(f"DESC TABLE {self._table}").result_rows
        present = {str(r[0]) for r in rows}
        missing = [c for c in COLUMN_NAMES if c not in present and c not in _OPTIONAL_COLUMNS]
        if missing:
            raise StoreError(f"table {self._table} lacks required columns: {', '.join(missing)}")
        self._insert_columns = [c for c in COLUMN_NAMES if c in present]
        self._exprs = {
            "task_run": "TaskRunId"
            if "TaskRunId" in present
            else "ResourceAttributes['cicd.pipeline.task.run.id']",
            "seq": "Seq" if "Seq" in present else "toUInt64OrZero(LogAttributes['tasklogs.seq'])",
            "event_name": "EventName" if "EventName" in present else "''",
        }

    def shutdown(self) -> None:
        if self._client is not None:
            with self._lock:
                self._client.close()
            self._client = None
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def __enter__(self) -> ClickHouseExporter:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.shutdown()

    def _require_client(self) -> Client:
        if self._client is None:
            raise StoreError("the ClickHouse store is not started")
        return self._client

    # -- write -------------------------------------------------------------------------

    def push(self, batch: LogBatch) -> None:
        if not len(batch):
            return
        client = self._require_client()
        columns = batch.columns()
        if len(self._insert_columns) != len(COLUMN_NAMES):
            columns = [
                col
                for name, col in zip(COLUMN_NAMES, columns, strict=True)
                if name in self._insert_columns
            ]
        try:
            with self._lock:
                client.insert(
                    self._table,
                    columns,
                    column_names=self._insert_columns,
                    column_oriented=True,
                )
        except OperationalError as exc:  # network, timeouts, server unavailable
            raise RetryableExportError(f"ClickHouse insert failed: {exc}") from exc
        except DatabaseError as exc:
            if _is_retryable(exc):
                raise RetryableExportError(f"ClickHouse insert failed: {exc}") from exc
            raise PermanentExportError(f"ClickHouse rejected the batch: {exc}") from exc

    # -- read --------------------------------------------------------------------------

    def query(self, query: HistoryQuery) -> HistoryPage:
        sql = render("task_history", table=self._table, **self._exprs)
        after = query.after
        params: dict[str, Any] = {
            "task_run_id": query.task_run_id,
            "has_cursor": 1 if after else 0,
            "after_seq": after.seq if after else 0,
            "after_ts": after.timestamp_ns if after else 0,
            "limit": query.limit,
        }
        try:
            with self._lock:
                rows = self._require_client().query(sql, parameters=params).result_rows
        except ClickHouseError as exc:
            raise StoreError(f"history query failed: {exc}") from exc
        records = [
            StoredLog(
                timestamp_ns=int(r[0]),
                seq=int(r[1]),
                severity_text=r[2],
                severity_number=int(r[3]),
                body=r[4],
                service_name=r[5],
                trace_id=r[6],
                span_id=r[7],
                event_name=r[8],
                scope_name=r[9],
                resource_attributes=dict(r[10]),
                log_attributes=dict(r[11]),
            )
            for r in rows
        ]
        next_cursor: Cursor | None = records[-1].cursor if len(records) == query.limit else None
        return HistoryPage(records=records, next_cursor=next_cursor)


def _is_retryable(exc: DatabaseError) -> bool:
    text = str(exc)
    # TOO_MANY_PARTS, TIMEOUT_EXCEEDED, MEMORY_LIMIT_EXCEEDED, TOO_MANY_SIMULTANEOUS_QUERIES,
    # NETWORK_ERROR, SOCKET_TIMEOUT, TABLE_IS_READ_ONLY
    return any(f"Code: {code}." in text for code in (252, 159, 241, 202, 210, 209, 242))


def _redact(dsn: str) -> str:
    parsed = urlparse(dsn)
    if parsed.password:
        return dsn.replace(f":{parsed.password}@", ":***@", 1)
    return dsn
