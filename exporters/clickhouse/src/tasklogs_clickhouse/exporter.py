"""The ClickHouse exporter and store: one code path for chDB and for a server.

``chdb://PATH`` runs the ClickHouse engine in this process (one process owns a chDB
directory: a lock file beside it makes a second owner fail with a clear error);
``http(s)://`` talks to a server. Both go through clickhouse-connect with the same SQL.
Inserts use clickhouse-connect's columnar Native insert (the batch's column lists as they
are; measured cheaper in total CPU than its Arrow path on chDB, see
bench/clickhouse_insert.py) with the batch's deduplication token, so a batch replayed
after a writer crash is stored once.

Reads never wait for writes: inserts go through the writer's client, history queries
through a small pool of reader clients of their own (chDB: a connection handle each on
the same engine, which runs them concurrently; a server: separate HTTP clients); a query
that finds every reader busy for ``query_wait_s`` is refused with
:class:`~collector_service.errors.QueryLimitError` (the API answers 429; the API also
bounds each tenant's concurrent queries, ``max_queries_per_tenant``). Insert errors are
classified by :mod:`tasklogs_clickhouse._errors`: only a batch that can never be
written is permanent; a full disk, a read-only directory and the like are retryable.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import (
    ClickHouseError,
    DatabaseError,
    DataError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
)

from collector_service.component.model import COLUMN_NAMES, OPTIONAL_COLUMNS, LogBatch
from collector_service.component.ownership import keep_owned, owner_claims
from collector_service.component.store import (
    MAX_PAGE,
    HistoryPage,
    HistoryQuery,
    PartitionInfo,
    RetentionReport,
    RunsPage,
    RunsQuery,
    RunSummaryRow,
    SearchResult,
    TaskSummaryRow,
)
from collector_service.errors import (
    PermanentExportError,
    QueryError,
    QueryLimitError,
    RetryableExportError,
    StoreError,
)
from tasklogs_clickhouse import _errors, _history, _index, _ownership
from tasklogs_clickhouse._ddl import Schema, body_index_kind
from tasklogs_clickhouse._sql import render
from tasklogs_clickhouse.config import ClickHouseConfig

__all__ = ["ClickHouseExporter"]

_log = logging.getLogger(__name__)
#: Columns a contrib-created table may lack (older contrib versions had no EventName; no
#: contrib version has the observed timestamp or the dropped-attribute counts).
_OPTIONAL_COLUMNS = frozenset({"EventName", *OPTIONAL_COLUMNS})
#: Below this much free space a chDB insert fails (it reserves ~1 MiB per part).
_MIN_FREE_BYTES = 2 * 1024 * 1024


class ClickHouseExporter:
    """Writes :class:`LogBatch` es to ``otel_logs`` and answers history queries."""

    def __init__(self, config: ClickHouseConfig, dsn: str) -> None:
        self.config = config
        self.dsn = dsn
        self.schema = Schema(config)
        self._table = self.schema.table
        self._client: Client | None = None
        self._lock = threading.Lock()  # the writer's client: inserts, DDL, reports
        #: Reader clients for history queries, never the writer's (reads never block writes).
        self._readers: queue.Queue[Client] = queue.Queue()
        self._reader_count = 0
        self._owns = False
        self._insert_columns: list[str] = list(COLUMN_NAMES)
        self._present: frozenset[str] = frozenset(COLUMN_NAMES)
        self._columns = _history.Columns()
        self._index: _index.Index | None = None
        self._run_settings: dict[str, Any] = {}

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def embedded(self) -> bool:
        return self.dsn.startswith("chdb:")

    def _chdb_path(self) -> Path:
        parsed = urlparse(self.dsn)
        return Path(parsed.netloc + parsed.path)

    def _connect(self) -> Client:
        # No HTTP session: concurrent reads and writes must not contend for one.
        extra: dict[str, Any] = (
            {"chdb_options": self.config.engine.server_settings()}
            if self.embedded
            else {"autogenerate_session_id": False}
        )
        return clickhouse_connect.get_client(dsn=self.dsn, **extra)

    def _take_ownership(self) -> None:
        _ownership.acquire(self._chdb_path())
        self._owns = True

    def start(self) -> None:
        """Connect, create the schema if configured, and learn the table's columns."""
        if self.embedded:
            self._take_ownership()
        try:
            self._client = self._connect()
            if self.config.create_schema:
                self._create_schema()
            self._learn_columns()
            self._start_index()
            self._report_detached()
            for _ in range(self.config.reader_connections):
                self._readers.put(self._connect())
                self._reader_count += 1
        except ClickHouseError as exc:
            self.shutdown()
            raise StoreError(f"ClickHouse at {_redact(self.dsn)}: {exc}") from exc
        except BaseException:
            self.shutdown()
            raise
        _log.info("ClickHouse store ready: %s table %s", _redact(self.dsn), self._table)

    def _create_schema(self) -> None:
        client = self._require_client()
        kind = body_index_kind(self.config.body_index, self._has_text_index())
        for statement in self.schema.statements(kind, self._has_projection_index()):
            client.command(statement)
        for statement in self.schema.upgrade_statements():
            client.command(statement)

    def _has_text_index(self) -> bool:
        """Whether the engine has a generally available text (inverted) index."""
        rows = (
            self._require_client()
            .query("SELECT value FROM system.settings WHERE name = 'enable_full_text_index'")
            .result_rows
        )
        return bool(rows) and str(rows[0][0]) == "1"

    def _has_projection_index(self) -> bool:
        """Whether the engine has projection indexes (``_part_offset`` projections)."""
        rows = (
            self._require_client()
            .query(
                "SELECT count() FROM system.settings "
                "WHERE name = 'min_table_rows_to_use_projection_index'"
            )
            .result_rows
        )
        return bool(rows) and int(rows[0][0]) > 0

    def _learn_columns(self) -> None:
        rows = self._require_client().query(f"DESC TABLE {self._table}").result_rows
        present = {str(r[0]) for r in rows}
        missing = [c for c in COLUMN_NAMES if c not in present and c not in _OPTIONAL_COLUMNS]
        if missing:
            raise StoreError(f"table {self._table} lacks required columns: {', '.join(missing)}")
        self._present = frozenset(present)
        self._insert_columns = [c for c in COLUMN_NAMES if c in present]
        if _history.LINE_ID in present:
            self._insert_columns.append(_history.LINE_ID)
        self._columns = _history.Columns.for_table(present)
        self._run_settings = self._projection_settings()

    def _projection_settings(self) -> dict[str, Any]:
        """Run queries prefer the run projection when the table has it (the optimizer
        otherwise counts marks only and misses that it reads in order)."""
        rows = (
            self._require_client()
            .query(
                "SELECT create_table_query FROM system.tables "
                "WHERE database = {db:String} AND name = {table:String}",
                parameters={"db": self.config.database, "table": self.schema.storage_table_name},
            )
            .result_rows
        )
        if rows and f"PROJECTION {_history.RUN_PROJECTION} " in str(rows[0][0]):
            return {"preferred_optimize_projection_name": _history.RUN_PROJECTION}
        return {}

    def _start_index(self) -> None:
        if not self.config.wants_runs_index:
            return
        if self.schema.clustered:
            _log.warning(
                "ClickHouse store %s: the runs index is not built on a cluster yet; "
                "the runs routes answer 503",
                self._table,
            )
            return
        index = _index.Index(
            self._table, self.schema.index_table, self.schema.index_view, self._columns
        )
        client = self._require_client()
        existed = bool(client.command(f"EXISTS TABLE {self.schema.index_table}"))
        window = f"SETTINGS non_replicated_deduplication_window = {int(self.config.dedup_window)}"
        client.command(index.create_table("", self.schema.index_ttl(), window))
        client.command(index.create_view(""))
        if not existed:
            client.command(index.backfill())
        self._index = index

    def _report_detached(self) -> None:
        """Log (ERROR) parts the engine detached: rows it no longer reads."""
        params = {"database": self.config.database, "table": self.schema.storage_table_name}
        try:
            rows = (
                self._require_client()
                .query(render("detached_parts"), parameters=params)
                .result_rows
            )
        except ClickHouseError as exc:  # an engine without the table: nothing to report
            _log.debug("cannot list detached parts: %s", exc)
            return
        if rows and int(rows[0][0]):
            _log.error(
                "table %s has %d detached part(s) whose rows are not read (e.g. broken "
                "after a full disk): %s; see system.detached_parts and ALTER TABLE ... "
                "ATTACH PART",
                self._table,
                int(rows[0][0]),
                ", ".join(rows[0][1]),
            )

    def shutdown(self) -> None:
        while self._reader_count:
            try:
                reader = self._readers.get(timeout=30)
            except queue.Empty:  # a query still running: its client is closed with the engine
                break
            reader.close()
            self._reader_count -= 1
        self._reader_count = 0
        if self._client is not None:
            with self._lock:
                self._client.close()
            self._client = None
        if self._owns:
            _ownership.release(self._chdb_path())
            self._owns = False

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
        if self._index is not None:
            batch = self._owned_rows(batch)
            if not len(batch):
                return
        columns = batch.columns()
        if not self._present.issuperset(COLUMN_NAMES):  # a contrib table without EventName
            columns = [c for n, c in zip(COLUMN_NAMES, columns, strict=True) if n in self._present]
        # A batch that cannot be replayed gets a token of its own: never dropped because an
        # earlier batch had equal content (content-hash dedup is the default otherwise).
        token = batch.token or f"tasklogs:{uuid.uuid4().hex}"
        if self._insert_columns[-1] == _history.LINE_ID:
            columns = [*columns, line_ids(token, len(batch))]
        settings: dict[str, Any] = {"insert_deduplicate": 1, "insert_deduplication_token": token}
        if self._index is not None:
            # A replayed batch must not be counted twice by the runs index either.
            settings["deduplicate_blocks_in_dependent_materialized_views"] = 1
        if self.schema.clustered:
            # Acknowledge only what the shards hold (and let them deduplicate it).
            settings["distributed_foreground_insert"] = 1
        try:
            with self._lock:
                client.insert(
                    self._table,
                    columns,
                    column_names=self._insert_columns,
                    column_oriented=True,
                    settings=settings,
                )
        except OperationalError as exc:  # network, timeouts, server unavailable
            raise RetryableExportError(
                f"ClickHouse insert failed: {_errors.reason(str(exc))}"
            ) from exc
        except (DatabaseError, OSError) as exc:
            # The environment (disk full, read-only, too many parts...) is retried; only a
            # batch that can never be written (bad data, a schema that does not fit) is not.
            if isinstance(exc, OSError) or _is_retryable(exc):
                raise RetryableExportError(
                    f"ClickHouse insert failed: {_errors.reason(str(exc))}"
                ) from exc
            raise PermanentExportError(f"ClickHouse rejected the batch: {exc}") from exc

    def _owned_rows(self, batch: LogBatch) -> LogBatch:
        """``batch`` without the records of task runs another tenant owns (counted)."""
        index = self._require_index()
        claims = owner_claims(batch)
        if not claims:
            return batch
        sql, params = index.owners(sorted(claims))
        try:
            with self._lock:
                rows = self._require_client().query(sql, parameters=params).result_rows
        except OperationalError as exc:
            raise RetryableExportError(f"ClickHouse ownership lookup failed: {exc}") from exc
        except DatabaseError as exc:
            raise RetryableExportError(f"ClickHouse ownership lookup failed: {exc}") from exc
        owners = {str(tid): str(tenant) for tid, tenant in rows}
        return keep_owned(batch, claims, owners, store="clickhouse")

    def _require_index(self) -> _index.Index:
        if self._index is None:
            raise StoreError(
                f"the ClickHouse store {self._table} keeps no runs index "
                "(runs_index: false, or a cluster)"
            )
        return self._index

    # -- runs index ----------------------------------------------------------------------

    def _index_rows(self, sql: str, params: dict[str, Any]) -> list[Any]:
        return list(self._rows(sql, params, "runs index query"))

    def runs(self, query: RunsQuery) -> RunsPage:
        sql, params = self._require_index().runs(query)
        return _index.runs_page(query, self._index_rows(sql, params))

    def run(self, run_id: str, tenant: str | None) -> RunSummaryRow | None:
        sql, params = self._require_index().run(run_id, tenant)
        rows = self._index_rows(sql, params)
        if not rows:
            return None
        tasks = [_index.task_row(r) for r in rows]
        return RunSummaryRow(run_id, max(t.pipeline_name for t in tasks), tasks)

    def task(self, task_run_id: str, tenant: str | None) -> TaskSummaryRow | None:
        sql, params = self._require_index().task(task_run_id, tenant)
        rows = self._index_rows(sql, params)
        return _index.task_row(rows[0]) if rows else None

    def probe(self) -> str | None:
        """Why the store cannot take writes now (``None``: it can), cheaply: for chDB the
        directory is on a read-only or full filesystem or not writable; for a server,
        it does not answer. Called by the service's readiness watch, never on the loop."""
        if self.embedded:
            return _directory_problem(self._chdb_path())
        try:
            with self._lock:  # the writer's client: never waits for a busy reader pool
                self._require_client().command("SELECT 1")
        except (ClickHouseError, OSError) as exc:
            return f"ClickHouse at {_redact(self.dsn)} does not answer: {_errors.reason(str(exc))}"
        return None

    # -- read --------------------------------------------------------------------------

    @contextmanager
    def _reader(self) -> Iterator[Client]:
        """A reader client of the pool (waits for one while all are busy)."""
        self._require_client()
        try:
            client = self._readers.get(timeout=self.config.query_wait_s)
        except queue.Empty:
            raise QueryLimitError(
                f"every ClickHouse reader is busy ({self._reader_count} running queries); "
                "retry shortly"
            ) from None
        try:
            yield client
        finally:
            self._readers.put(client)

    def query(self, query: HistoryQuery) -> HistoryPage:
        settings = self._settings(query)
        if _history.windowed(query) and query.newest:
            # The newest lines along the sort key, without LIMIT BY: the read stops
            # after them (one granule, no read of the newest seq first).
            sql, params = _history.build(query, self._columns, self._table, plain=True)
            rows = self._rows(sql, params, "history query", settings)
            if _history.distinct(rows):
                return _history.page_from_rows(query, rows)
        if _history.windowed(query):
            # A seq window first (a few granules); read again without it only when
            # it fell short of the page (a missing seq, or the log's start or end).
            sql, params = _history.build(query, self._columns, self._table, window=True)
            rows = self._rows(sql, params, "history query", settings)
            if len(rows) >= params["limit"]:
                return _history.page_from_rows(query, rows)
        sql, params = _history.build(query, self._columns, self._table)
        rows = self._rows(sql, params, "history query", settings)
        return _history.page_from_rows(query, rows)

    def count(self, query: HistoryQuery) -> int:
        sql, params = _history.build_count(query, self._columns, self._table)
        rows = self._rows(sql, params, "count", self._settings(query))
        return int(rows[0][0]) if rows else 0

    def _settings(self, query: HistoryQuery) -> dict[str, Any] | None:
        return None if query.by_task or not self._run_settings else self._run_settings

    def search(self, query: HistoryQuery, first: int) -> SearchResult:
        total = self.count(query)
        if first <= 0 or total == 0:
            return SearchResult(total, [])
        page = self.query(replace(query, limit=min(first, MAX_PAGE), newest=False, before=None))
        return SearchResult(total, page.records)

    def _rows(
        self,
        sql: str,
        params: dict[str, Any],
        what: str,
        settings: dict[str, Any] | None = None,
    ) -> Sequence[Sequence[Any]]:
        """Rows of a read, on a reader of the pool (never the writer's client)."""
        try:
            with self._reader() as client:
                return client.query(sql, parameters=params, settings=settings).result_rows
        except ClickHouseError as exc:
            if "Code: 427." in str(exc):  # CANNOT_COMPILE_REGEXP
                raise QueryError(f"invalid regular expression: {exc}") from exc
            raise StoreError(f"{what} failed: {_errors.reason(str(exc))}") from exc

    def retention_report(self) -> RetentionReport:
        """Partitions, rows and bytes on disk from ``system.parts``; oldest row to the ns."""
        client = self._require_client()
        parts_sql = render("retention_parts", parts=self.schema.parts_source())
        params = {"database": self.config.database, "table": self.schema.storage_table_name}
        try:
            with self._lock:
                parts = client.query(parts_sql, parameters=params).result_rows
                times = client.query(
                    render("retention_times", table=self.schema.rows_source())
                ).result_rows
        except ClickHouseError as exc:
            raise StoreError(f"retention report failed: {exc}") from exc
        span = {str(pid): (int(lo), int(hi)) for pid, lo, hi in times}
        partitions = [
            PartitionInfo(
                table=str(table),
                partition=str(partition),
                rows=int(rows),
                bytes_on_disk=int(nbytes),
                min_timestamp_ns=span[str(pid)][0] if str(pid) in span else None,
                max_timestamp_ns=span[str(pid)][1] if str(pid) in span else None,
            )
            for table, partition, pid, rows, nbytes in parts
        ]
        oldest = [p.min_timestamp_ns for p in partitions if p.min_timestamp_ns is not None]
        ttl = self.config.ttl
        return RetentionReport(
            store=f"clickhouse {_redact(self.dsn)} {self._table}",
            ttl_seconds=int(ttl.total_seconds()) if ttl is not None else None,
            partitions=partitions,
            oldest_ns=min(oldest) if oldest else None,
        )


def line_ids(token: str, n: int) -> list[int]:
    """The tie-breakers of a batch's ``n`` lines: consecutive from a hash of its token.

    A replayed batch (same token) gets the same ids; lines of one batch keep their
    arrival order among equal timestamps. Below 2**63, as cursors are.
    """
    base = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest()) >> 2
    return list(range(base, base + n))


def _is_retryable(exc: DatabaseError) -> bool:
    """By error code and errno (:mod:`._errors`): unknown and environment errors retry.

    The client's own complaints about the data (no server code: column counts, types it
    cannot serialize) are about the batch: permanent."""
    code = getattr(exc, "code", None)
    if code is None and isinstance(exc, ProgrammingError | DataError | NotSupportedError):
        return _errors.has_errno(str(exc))
    text = str(exc) if code is None else f"Code: {code}. {exc}"
    return _errors.is_retryable(text)


def _directory_problem(path: Path) -> str | None:
    """Why the chDB directory cannot take writes: read-only, not writable, or full."""
    probe = path if path.exists() else path.parent
    try:
        stat = os.statvfs(probe)
    except OSError as exc:
        return f"chDB directory {path}: {exc.strerror}"
    if stat.f_flag & os.ST_RDONLY:
        return f"chDB directory {path} is on a read-only filesystem"
    if not os.access(probe, os.W_OK):
        return f"chDB directory {path} is not writable (permission denied)"
    free = stat.f_bavail * stat.f_frsize
    if free < _MIN_FREE_BYTES:
        return f"chDB directory {path}: disk full ({free // 1024} KiB free)"
    return None


def _redact(dsn: str) -> str:
    parsed = urlparse(dsn)
    if parsed.password:
        return dsn.replace(f":{parsed.password}@", ":***@", 1)
    return dsn
