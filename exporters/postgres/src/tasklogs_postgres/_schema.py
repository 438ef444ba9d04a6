"""Versioned, re-runnable schema migrations of the PostgreSQL store.

Migrations are ``sql/NNN_name.sql`` files, applied in order inside one transaction under
an advisory lock (so two starting writers never race), and recorded in
``<schema>.schema_migrations`` per table. Every statement is also idempotent
(``IF NOT EXISTS``), so re-running a migration is harmless. Only names validated by
:data:`~tasklogs_postgres.config.IDENTIFIER_RE` are substituted into the texts.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from string import Template

import psycopg
from psycopg import sql

from tasklogs_postgres.config import IDENTIFIER_RE, PostgresConfig

__all__ = ["MIGRATIONS", "Migration", "migrate", "render"]

_log = logging.getLogger(__name__)
_FILE_RE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


def _wants_trgm(config: PostgresConfig) -> bool:
    return config.text_index == "trgm"


#: Migrations that only apply when a config option asks for them.
_OPTIONAL: dict[str, Callable[[PostgresConfig], bool]] = {"body_trgm": _wants_trgm}


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str

    @property
    def filename(self) -> str:
        return f"{self.version:03d}_{self.name}.sql"


def _discover() -> tuple[Migration, ...]:
    found = []
    for entry in files("tasklogs_postgres").joinpath("sql").iterdir():
        m = _FILE_RE.fullmatch(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2)))
    return tuple(sorted(found, key=lambda mig: mig.version))


#: Every migration shipped with this version, in order.
MIGRATIONS: tuple[Migration, ...] = _discover()


@cache
def _template(filename: str) -> Template:
    return Template(files("tasklogs_postgres").joinpath("sql", filename).read_text("utf-8"))


def render(filename: str, **names: str) -> str:
    """The text of ``sql/<filename>`` with validated identifiers substituted."""
    for value in names.values():
        if not IDENTIFIER_RE.fullmatch(value):
            raise ValueError(f"refusing to substitute unvalidated name {value!r}")
    return _template(filename).substitute(names)


def _lock_key(name: str) -> sql.Composed:
    return sql.SQL("SELECT pg_advisory_xact_lock(hashtext({}))").format(sql.Literal(name))


def _extension_schema(conn: psycopg.Connection[tuple[object, ...]], wanted: str) -> str:
    """Create pg_trgm (in ``wanted``) unless present; the schema it actually lives in."""
    with conn.transaction():
        conn.execute(_lock_key("tasklogs:extension:pg_trgm"))
        row = conn.execute(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n "
            "ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'"
        ).fetchone()
        if row is None:
            conn.execute(
                sql.SQL("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA {}").format(
                    sql.Identifier(wanted)
                )
            )
            return wanted
    return str(row[0])


def migrate(conn: psycopg.Connection[tuple[object, ...]], config: PostgresConfig) -> list[int]:
    """Apply the migrations this table lacks; the versions applied now (maybe none)."""
    names = {"schema": config.db_schema, "table": config.table}
    wanted = [m for m in MIGRATIONS if m.name not in _OPTIONAL or _OPTIONAL[m.name](config)]
    if any(m.name == "body_trgm" for m in wanted):
        names["extension_schema"] = _extension_schema(conn, config.extension_schema)
    applied_now: list[int] = []
    with conn.transaction():
        conn.execute(_lock_key(f"tasklogs:migrate:{config.db_schema}.{config.table}"))
        schema = sql.Identifier(config.db_schema)
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.schema_migrations ("
                " table_name text NOT NULL, version integer NOT NULL, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now(),"
                " PRIMARY KEY (table_name, version))"
            ).format(schema)
        )
        done = {
            int(str(r[0]))
            for r in conn.execute(
                sql.SQL("SELECT version FROM {}.schema_migrations WHERE table_name = %s").format(
                    schema
                ),
                (config.table,),
            )
        }
        for mig in wanted:
            if mig.version in done:
                continue
            conn.execute(render(mig.filename, **names).encode())
            conn.execute(
                sql.SQL(
                    "INSERT INTO {}.schema_migrations (table_name, version, name) "
                    "VALUES (%s, %s, %s)"
                ).format(schema),
                (config.table, mig.version, mig.name),
            )
            applied_now.append(mig.version)
            _log.info(
                "PostgreSQL store %s.%s: applied migration %s",
                config.db_schema,
                config.table,
                mig.filename,
            )
    return applied_now
