"""The PostgreSQL exporter and store: binary COPY writes, daily partitions, history.

Writes: one transaction per batch holds the batch's ledger row (its dedup token, unique)
and the binary ``COPY`` of its rows, so a replayed batch is either skipped whole or was
never stored. Partitions are created ahead of time by a maintenance thread (and on
demand for late or early rows), and retention drops whole expired partitions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from collector_service.component.model import LogBatch
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
    ConfigError,
    PermanentExportError,
    QueryError,
    RetryableExportError,
    StoreError,
)
from tasklogs_postgres import _index
from tasklogs_postgres import _partitions as parts
from tasklogs_postgres._copy import COPY_COLUMNS, copy_chunks
from tasklogs_postgres._query import (
    RecordReader,
    build_count_query,
    build_history_query,
    page_cursors,
)
from tasklogs_postgres._schema import migrate
from tasklogs_postgres.config import PostgresConfig, redact_dsn

__all__ = ["PostgresExporter"]

_log = logging.getLogger(__name__)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: A batch spanning more days than this gets its partitions from its distinct days.
_MAX_DAY_SPAN = 62
#: Longest a history query waits for a pooled connection (fail fast while PG is down).
_READ_CONNECT_S = 3.0
#: SQLSTATE classes of errors about the batch or the schema: retrying cannot help.
#: 22 data exception, 23 integrity constraint, 42 syntax error or access rule (schema),
#: 0A feature not supported. Everything else (53 disk full / out of memory, 25006
#: read-only transaction, 57 operator intervention, 08 connection, 40 rollbacks, 55
#: lock not available, 58 system I/O errors, XX internal) is the environment.
_PERMANENT_CLASSES = frozenset({"22", "23", "42", "0A"})


def _ns(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(microseconds=1) * 1000


class PostgresExporter:
    """Writes :class:`LogBatch` es into daily partitions and answers history queries."""

    def __init__(self, config: PostgresConfig, *, clock: Callable[[], int] = time.time_ns):
        self.config = config
        self._clock = clock
        self._dsn_shown = redact_dsn(config.dsn)
        self._table = sql.Identifier(config.db_schema, config.table)
        self._ledger = sql.Identifier(config.db_schema, f"{config.table}_batches")
        self._retention_log = sql.Identifier(config.db_schema, f"{config.table}_retention")
        self._copy_sql = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            self._table, sql.SQL(", ").join(sql.Identifier(c) for c in COPY_COLUMNS)
        )
        self._pool: ConnectionPool[psycopg.Connection[tuple[Any, ...]]] | None = None
        self._known_days: set[int] = set()
        self._days_lock = threading.Lock()
        self._stop = threading.Event()
        self._maintenance: threading.Thread | None = None
        self._isql = _index.IndexSql.of(config)
        #: Whether the runs index table exists (created by migration 004 with the schema).
        self._indexed = False

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Connect (clear errors naming the DSN), migrate, create partitions, start upkeep."""
        conninfo = self.config.conninfo()
        try:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                self._prepare_schema(conn)
        except psycopg.OperationalError as exc:
            raise self._connect_error(exc) from exc
        except psycopg.Error as exc:
            raise ConfigError(
                f"PostgreSQL store at {self._dsn_shown}: schema setup failed: {exc}"
            ) from exc
        self._pool = ConnectionPool(
            conninfo,
            min_size=self.config.pool_min_size,
            max_size=self.config.pool_max_size,
            kwargs={"autocommit": True},
            configure=_configure,
            open=False,
            name=f"tasklogs-postgres-{self.config.db_schema}.{self.config.table}",
        )
        try:
            self._pool.open(wait=True, timeout=self.config.connect_timeout.total_seconds())
            self.run_maintenance()
        except (psycopg.Error, PoolTimeout) as exc:
            self.shutdown()
            raise RetryableExportError(
                f"PostgreSQL store at {self._dsn_shown}: start-up failed: {exc}"
            ) from exc
        except BaseException:
            self.shutdown()
            raise
        self._stop.clear()
        self._maintenance = threading.Thread(
            target=self._maintenance_loop, name="tasklogs-postgres-maintenance", daemon=True
        )
        self._maintenance.start()
        _log.info("PostgreSQL store ready: %s table %s", self._dsn_shown, self._qualified())

    def _qualified(self) -> str:
        return f"{self.config.db_schema}.{self.config.table}"

    def _connect_error(self, exc: psycopg.OperationalError) -> Exception:
        text = str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)
        message = f"PostgreSQL store: cannot connect to {self._dsn_shown}: {text}"
        if "does not exist" in text or "authentication" in text or "role" in text:
            return ConfigError(message)
        return RetryableExportError(message)

    def _prepare_schema(self, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        if self.config.create_schema:
            migrate(conn, self.config)
        exists = conn.execute("SELECT to_regclass(%s)", (self._qualified(),)).fetchone()
        if exists is None or exists[0] is None:
            raise ConfigError(
                f"PostgreSQL store at {self._dsn_shown}: table {self._qualified()} does not "
                "exist (set create_schema: true to create it)"
            )
        index = f"{self._qualified()}_task_runs"
        found = conn.execute("SELECT to_regclass(%s)", (index,)).fetchone()
        self._indexed = found is not None and found[0] is not None
        if not self._indexed:
            _log.warning(
                "PostgreSQL store %s: no runs index table %s (create_schema: false); "
                "the runs routes answer 503",
                self._qualified(),
                index,
            )
        missing = conn.execute(
            "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = %s AND column_name = %s)",
            (self.config.db_schema, self.config.table, "ObservedTimestampNs"),
        ).fetchone()
        if missing is not None:
            raise ConfigError(
                f"PostgreSQL store at {self._dsn_shown}: table {self._qualified()} lacks the "
                'columns of migration observed_dropped ("ObservedTimestampNs", the '
                "dropped-attribute counts): start once with create_schema: true to add them"
            )

    def shutdown(self) -> None:
        self._stop.set()
        if self._maintenance is not None:
            self._maintenance.join(timeout=30)
            self._maintenance = None
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> PostgresExporter:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.shutdown()

    def _require_pool(self) -> ConnectionPool[psycopg.Connection[tuple[Any, ...]]]:
        if self._pool is None:
            raise StoreError("the PostgreSQL store is not started")
        return self._pool

    # -- maintenance -------------------------------------------------------------------

    def _maintenance_loop(self) -> None:
        while not self._stop.wait(self.config.maintenance_interval.total_seconds()):
            try:
                self.run_maintenance()
            except Exception:  # noqa: BLE001 - the loop must outlive one failed run
                _log.exception("PostgreSQL store maintenance failed; retrying next interval")

    def run_maintenance(self, now_ns: int | None = None) -> list[parts.Dropped]:
        """Create partitions today..today+ahead, drop expired ones, prune the batch ledger.

        Runs on the maintenance thread every ``maintenance_interval``; callable directly.
        """
        now = self._clock() if now_ns is None else now_ns
        today = parts.day_of(now)
        with self._require_pool().connection() as conn:
            dropped = parts.apply_retention(conn, self.config, now)
            if dropped:
                with self._days_lock:
                    self._known_days.clear()
            self._ensure_days(conn, range(today, today + self.config.partitions_ahead + 1))
            ttl = self.config.ttl
            if self._indexed and ttl is not None:
                cutoff = now - int(ttl.total_seconds()) * 1_000_000_000
                conn.execute(self._isql.text("index_prune"), {"cutoff": cutoff})
            window_s = int(self.config.dedup_window.total_seconds())
            conn.execute(
                sql.SQL(
                    "DELETE FROM {} WHERE written_at < now() - make_interval(secs => %s)"
                ).format(self._ledger),
                (window_s,),
            )
        return dropped

    def _ensure_days(self, conn: psycopg.Connection[Any], days: range | set[int]) -> None:
        with self._days_lock:
            if not self._known_days:
                self._known_days.update(
                    p.day for p in parts.list_partitions(conn, self.config) if p.attached
                )
            missing = set(days) - self._known_days
        if missing:
            parts.create_partitions(conn, self.config, missing)
            with self._days_lock:
                self._known_days.update(missing)

    # -- write -------------------------------------------------------------------------

    def push(self, batch: LogBatch) -> None:
        if not len(batch):
            return
        try:
            with self._require_pool().connection() as conn:
                self._ensure_days(conn, _batch_days(batch.timestamp))
                try:
                    self._write(conn, batch)
                except pg_errors.CheckViolation:
                    # A partition vanished under us (dropped by retention elsewhere):
                    # relearn the partitions, recreate, and write once more.
                    with self._days_lock:
                        self._known_days.clear()
                    self._ensure_days(conn, _batch_days(batch.timestamp))
                    self._write(conn, batch)
        except psycopg.Error as exc:
            # Only a batch the server can never take (bad data, a schema that does not fit
            # it) is permanent; disk full, read-only, lost connections, locks, shutdowns,
            # resources are the environment: retried while receivers refuse upstream.
            if _is_permanent(exc):
                raise PermanentExportError(f"PostgreSQL rejected the batch: {exc}") from exc
            raise RetryableExportError(f"PostgreSQL write failed: {_first_line(exc)}") from exc
        except PoolTimeout as exc:
            raise RetryableExportError(
                f"PostgreSQL at {self._dsn_shown} unreachable: {_first_line(exc)}"
            ) from exc
        except (UnicodeError, OverflowError, ValueError) as exc:
            raise PermanentExportError(f"PostgreSQL rejected the batch: {exc}") from exc

    def probe(self) -> str | None:
        """Why the store cannot take writes now (``None``: it can): the server does not
        answer, or is read-only (a standby, ``default_transaction_read_only``). Called by
        the service's readiness watch, off the event loop."""
        try:
            with self._require_pool().connection(timeout=self._fail_fast_s()) as conn:
                row = conn.execute("SHOW transaction_read_only").fetchone()
        except (psycopg.Error, PoolTimeout) as exc:
            return f"PostgreSQL at {self._dsn_shown} unreachable: {_first_line(exc)}"
        if row is not None and str(row[0]) == "on":
            return f"PostgreSQL at {self._dsn_shown} is read-only"
        return None

    def _fail_fast_s(self) -> float:
        """How long a reader waits for a connection: short, so history answers 503 with
        the reason while the server is down instead of hanging for the pool timeout."""
        return min(self.config.connect_timeout.total_seconds(), _READ_CONNECT_S)

    def _write(self, conn: psycopg.Connection[Any], batch: LogBatch) -> None:
        with conn.transaction():
            if batch.token is not None:
                inserted = conn.execute(
                    sql.SQL(
                        "INSERT INTO {} (token, rows) VALUES (%s, %s)"
                        " ON CONFLICT (token) DO NOTHING RETURNING 1"
                    ).format(self._ledger),
                    (batch.token, len(batch)),
                ).fetchone()
                if inserted is None:
                    _log.info("PostgreSQL store: batch %s already stored, skipped", batch.token)
                    return
            if self._indexed:
                batch = _index.claim(conn, self._isql, batch)
                if not len(batch):
                    return
            chunks = copy_chunks(batch)
            header = next(chunks)  # the batch's values are checked before COPY starts
            with conn.cursor().copy(self._copy_sql) as copy:
                copy.write(header)
                for chunk in chunks:
                    copy.write(chunk)
            if self._indexed:
                _index.update(conn, self._isql, batch)

    # -- read --------------------------------------------------------------------------

    def query(self, query: HistoryQuery) -> HistoryPage:
        stmt, params = build_history_query(query, self._table)
        rows = self._fetch(stmt, params, "history query")
        reader = RecordReader()
        records, nxt, prev = page_cursors(query, [reader.record(r) for r in rows])
        return HistoryPage(records=records, next_cursor=nxt, prev_cursor=prev)

    def count(self, query: HistoryQuery) -> int:
        stmt, params = build_count_query(query, self._table)
        rows = self._fetch(stmt, params, "count")
        return int(rows[0][0]) if rows else 0

    def search(self, query: HistoryQuery, first: int) -> SearchResult:
        total = self.count(query)
        if first <= 0 or total == 0:
            return SearchResult(total, [])
        page = self.query(replace(query, limit=min(first, MAX_PAGE), newest=False, before=None))
        return SearchResult(total, page.records)

    def _fetch(self, stmt: sql.Composed, params: list[Any], what: str) -> list[tuple[Any, ...]]:
        try:
            with self._require_pool().connection(timeout=self._fail_fast_s()) as conn:
                return conn.execute(stmt, params).fetchall()
        except pg_errors.InvalidRegularExpression as exc:
            raise QueryError(f"invalid regular expression: {exc}") from exc
        except PoolTimeout as exc:
            raise StoreError(
                f"{what} failed: PostgreSQL at {self._dsn_shown} unreachable "
                f"(no connection within {self._fail_fast_s():.0f}s)"
            ) from exc
        except psycopg.Error as exc:
            raise StoreError(f"{what} failed: {_first_line(exc)}") from exc

    # -- runs index ----------------------------------------------------------------------

    def _index_conn(self) -> Any:
        if not self._indexed:
            raise StoreError(f"the PostgreSQL store {self._qualified()} keeps no runs index")
        return self._require_pool().connection(timeout=self._fail_fast_s())

    def runs(self, query: RunsQuery) -> RunsPage:
        try:
            with self._index_conn() as conn:
                return _index.runs(conn, self._isql, query)
        except (psycopg.Error, PoolTimeout) as exc:
            raise StoreError(f"runs index query failed: {exc}") from exc

    def run(self, run_id: str, tenant: str | None) -> RunSummaryRow | None:
        try:
            with self._index_conn() as conn:
                tasks = _index.tasks(conn, self._isql, run_id=run_id, tenant=tenant)
        except (psycopg.Error, PoolTimeout) as exc:
            raise StoreError(f"runs index query failed: {exc}") from exc
        if not tasks:
            return None
        return RunSummaryRow(run_id, max(t.pipeline_name for t in tasks), tasks)

    def task(self, task_run_id: str, tenant: str | None) -> TaskSummaryRow | None:
        try:
            with self._index_conn() as conn:
                tasks = _index.tasks(conn, self._isql, task_run_id=task_run_id, tenant=tenant)
        except (psycopg.Error, PoolTimeout) as exc:
            raise StoreError(f"runs index query failed: {exc}") from exc
        return tasks[0] if tasks else None

    def retention_report(self) -> RetentionReport:
        try:
            with self._require_pool().connection() as conn:
                infos = [
                    self._partition_info(conn, p.name)
                    for p in parts.list_partitions(conn, self.config)
                    if p.attached
                ]
                dropped_rows = conn.execute(
                    sql.SQL(
                        "SELECT partition_name, table_name, rows, dropped_at FROM {}"
                        " ORDER BY dropped_at DESC, id DESC LIMIT 1000"
                    ).format(self._retention_log)
                ).fetchall()
        except (psycopg.Error, PoolTimeout) as exc:
            raise StoreError(f"retention report failed: {exc}") from exc
        mins = [p.min_timestamp_ns for p in infos if p.min_timestamp_ns is not None]
        ttl = self.config.ttl
        return RetentionReport(
            store="postgres",
            ttl_seconds=None if ttl is None else int(ttl.total_seconds()),
            partitions=infos,
            oldest_ns=min(mins) if mins else None,
            dropped=[
                {"partition": p, "table": t, "rows": int(n), "dropped_at_ns": _ns(at)}
                for p, t, n, at in dropped_rows
            ],
        )

    def _partition_info(self, conn: psycopg.Connection[Any], name: str) -> PartitionInfo:
        ident = sql.Identifier(self.config.db_schema, name)
        row = conn.execute(
            sql.SQL(
                'SELECT count(*), min("TimestampNs"), max("TimestampNs"),'
                " pg_total_relation_size(%s::regclass) FROM {}"
            ).format(ident),
            (f'"{self.config.db_schema}"."{name}"',),
        ).fetchone()
        count, lo, hi, size = row if row is not None else (0, None, None, 0)
        return PartitionInfo(
            table=self.config.table,
            partition=name,
            rows=int(count),
            bytes_on_disk=int(size),
            min_timestamp_ns=None if lo is None else int(lo),
            max_timestamp_ns=None if hi is None else int(hi),
        )


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SET TimeZone TO 'UTC'")


def _batch_days(timestamps: list[int]) -> range | set[int]:
    first, last = parts.day_of(min(timestamps)), parts.day_of(max(timestamps))
    if last - first <= _MAX_DAY_SPAN:
        return range(first, last + 1)
    return {parts.day_of(ts) for ts in timestamps}


def _is_permanent(exc: psycopg.Error) -> bool:
    state = exc.sqlstate
    if state is None:  # no server answer (connection lost): the environment
        return False
    if state == "42501":  # insufficient_privilege: grants can be fixed, then it works
        return False
    return state[:2] in _PERMANENT_CLASSES


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
