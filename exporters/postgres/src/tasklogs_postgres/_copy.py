"""Turning a columnar :class:`LogBatch` into binary COPY rows, column-wise.

PostgreSQL ``text`` and ``jsonb`` cannot hold the NUL character (U+0000). Rather than
fail the batch, the store keeps it visibly: every NUL in a text column, an attribute key
or an attribute value is written as the six characters :data:`NUL_ESCAPE` (``\\u0000``),
the spelling JSON itself uses. Reads return the escaped text.

Two small binary dumpers keep per-row Python work down: nanosecond integers go straight
to ``timestamptz`` (microseconds since 2000-01-01, floored), and attribute dicts are
serialized once per distinct dict object (resource attributes are shared by reference
between the records of one resource) into jsonb's binary form.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from psycopg import Connection, postgres
from psycopg.adapt import Dumper
from psycopg.pq import Format

from collector_service.component.model import COLUMN_NAMES, LogBatch

__all__ = [
    "COPY_COLUMNS",
    "COPY_TYPES",
    "NUL_ESCAPE",
    "escape_nul",
    "register_copy_dumpers",
    "rows_for_copy",
]

#: What a NUL character becomes in stored text: backslash, ``u0000``.
NUL_ESCAPE = "\\u0000"

#: Columns written by COPY, in order (the generated task-identity columns are not).
COPY_COLUMNS: tuple[str, ...] = (
    "Timestamp",
    "TimestampNs",
    *COLUMN_NAMES[1:-4],
    "ObservedTimestampNs",
    *COLUMN_NAMES[-3:],
)
assert COLUMN_NAMES[-4] == "ObservedTimestamp"
#: PostgreSQL type of each COPY column (binary COPY must match them exactly).
COPY_TYPES: tuple[str, ...] = (
    "timestamptz",
    "int8",
    "text",
    "text",
    "int2",
    "text",
    "int2",
    "text",
    "text",
    "text",
    "jsonb",
    "text",
    "text",
    "text",
    "jsonb",
    "jsonb",
    "text",
    "int8",
    "int8",
    "int8",
    "int8",
)

_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01T00:00:00Z in Unix microseconds
_INT8 = struct.Struct(">q")
_JSONB_VERSION = b"\x01"
_EMPTY_JSONB = _JSONB_VERSION + b"{}"


class _NsTimestamptzDumper(Dumper):
    """Unix nanoseconds (int) -> binary timestamptz, floored to the microsecond."""

    oid = postgres.types["timestamptz"].oid
    format = Format.BINARY

    def dump(self, obj: Any) -> bytes:
        return _INT8.pack(obj // 1000 - _PG_EPOCH_US)


class _EncodedJsonbDumper(Dumper):
    """Already-encoded binary jsonb (version byte + UTF-8 JSON) passed through."""

    oid = postgres.types["jsonb"].oid
    format = Format.BINARY

    def dump(self, obj: Any) -> bytes:
        return bytes(obj)


def register_copy_dumpers(conn: Connection[Any]) -> None:
    """Register the COPY dumpers by type oid only: query parameters are unaffected."""
    conn.adapters.register_dumper(None, _NsTimestamptzDumper)
    conn.adapters.register_dumper(None, _EncodedJsonbDumper)


def escape_nul(text: str) -> str:
    """``text`` with every NUL replaced by :data:`NUL_ESCAPE` (how the store keeps it)."""
    return text.replace("\x00", NUL_ESCAPE)


def _text_column(values: list[str]) -> list[str]:
    # One C-level scan of the whole column; per-value work only when a NUL is present.
    if "\x00" in "".join(values):
        return [v.replace("\x00", NUL_ESCAPE) for v in values]
    return values


#: One encoder for every call: ``json.dumps`` with options builds a new one each time.
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _encode_attributes(attrs: Mapping[str, Any]) -> bytes:
    text = _ENCODE(attrs)
    if "\\u0000" in text:  # json spells NUL \u0000, which jsonb refuses
        clean = {
            escape_nul(k): escape_nul(v) if isinstance(v, str) else v for k, v in attrs.items()
        }
        text = _ENCODE(clean)
    return _JSONB_VERSION + text.encode("utf-8")


def _jsonb_column(values: Sequence[Mapping[str, Any]]) -> list[bytes]:
    cache: dict[int, bytes] = {}
    out: list[bytes] = []
    append = out.append
    for attrs in values:
        if not attrs:
            append(_EMPTY_JSONB)
            continue
        key = id(attrs)  # the batch keeps every dict alive, so ids are stable here
        encoded = cache.get(key)
        if encoded is None:
            encoded = cache[key] = _encode_attributes(attrs)
        append(encoded)
    return out


def _checked_ints(values: list[int], name: str, low: int, high: int) -> list[int]:
    # psycopg's binary integer dumpers truncate silently: refuse out-of-range values.
    if values and (min(values) < low or max(values) > high):
        raise ValueError(f"{name} outside {low}..{high} in this batch")
    return values


def rows_for_copy(batch: LogBatch) -> Iterator[tuple[Any, ...]]:
    """The batch's rows in :data:`COPY_COLUMNS` order, converted column by column.

    Raises :class:`ValueError` for values the columns cannot hold (the batch is refused).
    """
    timestamps = _checked_ints(batch.timestamp, "Timestamp", -(2**63), 2**63 - 1)
    cols = batch.columns()
    return zip(
        timestamps,
        timestamps,
        _text_column(batch.trace_id),
        _text_column(batch.span_id),
        _checked_ints(batch.trace_flags, "TraceFlags", 0, 255),
        _text_column(batch.severity_text),
        _checked_ints(batch.severity_number, "SeverityNumber", 0, 255),
        _text_column(batch.service_name),
        _text_column(batch.body),
        _text_column(batch.resource_schema_url),
        _jsonb_column(batch.resource_attributes),
        _text_column(batch.scope_schema_url),
        _text_column(batch.scope_name),
        _text_column(batch.scope_version),
        _jsonb_column(batch.scope_attributes),
        _jsonb_column(batch.log_attributes),
        _text_column(batch.event_name),
        _checked_ints(cols[-4], "ObservedTimestamp", 0, 2**63 - 1),
        *cols[-3:],
        strict=True,
    )
