"""The one SQL builder of the ClickHouse store.

Statements live in ``sql/*.sql`` as :class:`string.Template` texts. Only identifiers that
passed :func:`quote_identifier` and fixed expressions are substituted into them; every
value travels as a server-side query parameter (``{name:Type}``).
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files
from string import Template

from collector_service.errors import ConfigError

__all__ = ["IDENTIFIER_RE", "qualified", "quote_identifier", "render"]

IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def quote_identifier(name: str, *, what: str = "identifier") -> str:
    """Validate a database/table/cluster name from config and quote it with backticks."""
    if not IDENTIFIER_RE.fullmatch(name):
        raise ConfigError(
            f"invalid ClickHouse {what} {name!r}: use letters, digits and '_' "
            "(not starting with a digit), at most 128 characters"
        )
    return f"`{name}`"


def qualified(database: str, table: str) -> str:
    return f"{quote_identifier(database, what='database')}.{quote_identifier(table, what='table')}"


@cache
def _template(name: str) -> Template:
    return Template(files("tasklogs_clickhouse").joinpath("sql", f"{name}.sql").read_text("utf-8"))


def render(name: str, **parts: str) -> str:
    """The statement ``sql/<name>.sql`` with ``parts`` substituted (all must be given)."""
    return _template(name).substitute(parts)
