"""Daily range partitions: creation ahead of time, and retention by dropping them.

A partition covers one UTC day, ``[D 00:00, D+1 00:00)`` on ``Timestamp``, and is named
``<table>_pYYYYMMDD``. Retention drops a partition once its *whole* day is older than the
TTL (its upper bound <= now - ttl): never a row-by-row DELETE. A drop first detaches the
partition ``CONCURRENTLY`` (readers and writers of the other days never wait on it),
then counts what it held, drops it and records that in ``<table>_retention``, in one
transaction. A detach interrupted by a crash is finished on the next run.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, LiteralString

import psycopg
from psycopg import sql

from tasklogs_postgres.config import PostgresConfig

__all__ = [
    "DAY_NS",
    "Dropped",
    "PartitionRef",
    "apply_retention",
    "create_partitions",
    "day_of",
    "list_partitions",
    "partition_name",
]

_log = logging.getLogger(__name__)
DAY_NS = 86_400 * 1_000_000_000
_EPOCH_DATE = date(1970, 1, 1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def day_of(ns: int) -> int:
    """Days since 1970-01-01 (UTC) of a nanosecond timestamp."""
    return ns // DAY_NS


def _date(day: int) -> date:
    return _EPOCH_DATE + timedelta(days=day)


def partition_name(table: str, day: int) -> str:
    return f"{table}_p{_date(day):%Y%m%d}"


@dataclass(frozen=True, slots=True)
class PartitionRef:
    name: str
    day: int
    #: Attached to the parent (False: detached by an interrupted retention run).
    attached: bool
    detach_pending: bool


@dataclass(frozen=True, slots=True)
class Dropped:
    partition: str
    rows: int
    dropped_at_ns: int


def _name_re(table: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(table)}_p(\d{{8}})$")


def list_partitions(conn: psycopg.Connection[Any], config: PostgresConfig) -> list[PartitionRef]:
    """This table's daily partitions (by name), attached or left detached, oldest first."""
    rows = conn.execute(
        "SELECT c.relname, i.inhparent IS NOT NULL, COALESCE(i.inhdetachpending, false)"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " LEFT JOIN pg_inherits i ON i.inhrelid = c.oid"
        "  AND i.inhparent = to_regclass(format('%%I.%%I', %s::text, %s::text))"
        " WHERE n.nspname = %s AND c.relkind = 'r' AND c.relname LIKE %s"
        "  AND (NOT c.relispartition OR i.inhparent IS NOT NULL)",
        (
            config.db_schema,
            config.table,
            config.db_schema,
            config.table.replace("_", "\\_") + "\\_p%",
        ),
    ).fetchall()
    pattern = _name_re(config.table)
    found = []
    for name, attached, pending in rows:
        m = pattern.fullmatch(name)
        if not m:
            continue
        try:
            day = (datetime.strptime(m.group(1), "%Y%m%d").date() - _EPOCH_DATE).days
        except ValueError:
            continue
        found.append(PartitionRef(name, day, bool(attached), bool(pending)))
    return sorted(found, key=lambda p: p.day)


def _set_lock_timeout(
    conn: psycopg.Connection[Any], config: PostgresConfig, *, local: bool
) -> None:
    ms = int(config.lock_timeout.total_seconds() * 1000)
    scope: LiteralString = "LOCAL " if local else ""
    conn.execute(sql.SQL("SET " + scope + "lock_timeout = {}").format(sql.Literal(f"{ms}ms")))


def create_partitions(
    conn: psycopg.Connection[Any], config: PostgresConfig, days: Iterable[int]
) -> list[str]:
    """Create the partitions of ``days`` that do not exist yet; their names."""
    wanted = sorted(set(days))
    if not wanted:
        return []
    created: list[str] = []
    parent = sql.Identifier(config.db_schema, config.table)
    with conn.transaction():
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))",
            (f"tasklogs:partitions:{config.db_schema}.{config.table}",),
        )
        _set_lock_timeout(conn, config, local=True)
        existing = {p.name for p in list_partitions(conn, config) if p.attached}
        for day in wanted:
            name = partition_name(config.table, day)
            if name in existing:
                continue
            lower = datetime.combine(_date(day), datetime.min.time(), tzinfo=UTC)
            conn.execute(
                sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
                    sql.Identifier(config.db_schema, name),
                    parent,
                    sql.Literal(lower.isoformat()),
                    sql.Literal((lower + timedelta(days=1)).isoformat()),
                )
            )
            created.append(name)
    if created:
        _log.info("PostgreSQL store: created partitions %s", ", ".join(created))
    return created


def apply_retention(
    conn: psycopg.Connection[Any], config: PostgresConfig, now_ns: int
) -> list[Dropped]:
    """Drop every partition whose whole day is older than the TTL; what was dropped.

    ``conn`` must be in autocommit mode (``DETACH ... CONCURRENTLY`` needs it).
    """
    if config.ttl is None:
        return []
    key = f"tasklogs:retention:{config.db_schema}.{config.table}"
    row = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()
    if row is None or not row[0]:
        return []  # another writer is applying retention to this table right now
    try:
        _set_lock_timeout(conn, config, local=False)
        return _drop_expired(conn, config, now_ns - int(config.ttl.total_seconds()) * 10**9)
    finally:
        conn.execute("RESET lock_timeout")
        conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))


def _drop_expired(
    conn: psycopg.Connection[Any], config: PostgresConfig, horizon_ns: int
) -> list[Dropped]:
    parent = sql.Identifier(config.db_schema, config.table)
    dropped: list[Dropped] = []
    for part in list_partitions(conn, config):
        if (part.day + 1) * DAY_NS > horizon_ns:
            continue  # some of its day is still within the TTL
        ident = sql.Identifier(config.db_schema, part.name)
        if part.attached:
            mode: LiteralString = "FINALIZE" if part.detach_pending else "CONCURRENTLY"
            conn.execute(
                sql.SQL("ALTER TABLE {} DETACH PARTITION {} " + mode).format(parent, ident)
            )
        with conn.transaction():
            count, lo, hi = conn.execute(
                sql.SQL('SELECT count(*), min("TimestampNs"), max("TimestampNs") FROM {}').format(
                    ident
                )
            ).fetchone() or (0, None, None)
            conn.execute(sql.SQL("DROP TABLE {}").format(ident))
            (dropped_at,) = conn.execute(
                sql.SQL(
                    "INSERT INTO {} (partition_name, table_name, rows, min_timestamp_ns,"
                    " max_timestamp_ns) VALUES (%s, %s, %s, %s, %s) RETURNING dropped_at"
                ).format(sql.Identifier(config.db_schema, f"{config.table}_retention")),
                (part.name, config.table, count, lo, hi),
            ).fetchone() or (datetime.now(UTC),)
        dropped_ns = (dropped_at - _EPOCH) // timedelta(microseconds=1) * 1000
        dropped.append(Dropped(part.name, int(count), dropped_ns))
        _log.info("PostgreSQL store retention: dropped %s (%d rows)", part.name, count)
    return dropped
