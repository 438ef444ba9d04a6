"""Turning a columnar :class:`LogBatch` into a ``COPY ... (FORMAT BINARY)`` payload.

The payload is built column by column, never through per-row Python calls: each column
becomes a list of already-encoded field pieces (or a constant repeated), and the rows are
the C-level interleaving ``b"".join(map(b"".join, zip(*columns)))``. Per column:

- the fixed-width columns come first in :data:`COPY_COLUMNS`, so each row's field count
  and its eight integers are one ``struct`` pack (``map`` over the columns);
- a text column with few distinct values (service, severity, scope, ids left empty)
  is encoded once per distinct value and mapped; ``Body`` and high-cardinality columns
  are encoded with ``map(str.encode)`` and their lengths packed with ``map``;
- a jsonb column is encoded once per distinct dict object (resource attributes are
  shared by reference between the records of one resource) and the distinct dicts of a
  chunk are serialized by *one* JSON encoder call (see :func:`_json_texts`).

The payload is produced in chunks (:data:`CHUNK_ROWS` rows each) so the server starts
on the first rows while the next chunk is built.

PostgreSQL ``text`` and ``jsonb`` cannot hold the NUL character (U+0000). Rather than
fail the batch, the store keeps it visibly: every NUL in a text column, an attribute key
or an attribute value is written as the six characters :data:`NUL_ESCAPE` (``\\u0000``),
the spelling JSON itself uses. Reads return the escaped text.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Mapping, Sequence
from itertools import repeat
from typing import Any

from collector_service.component.model import LogBatch

__all__ = ["CHUNK_ROWS", "COPY_COLUMNS", "NUL_ESCAPE", "copy_chunks", "escape_nul"]

#: What a NUL character becomes in stored text: backslash, ``u0000``.
NUL_ESCAPE = "\\u0000"

#: Columns written by COPY, in payload order: the fixed-width ones first (one struct per
#: row), then text and jsonb. The generated task-identity columns are not written.
COPY_COLUMNS: tuple[str, ...] = (
    "Timestamp",
    "TimestampNs",
    "ObservedTimestampNs",
    "DroppedAttributesCount",
    "ResourceDroppedAttributesCount",
    "ScopeDroppedAttributesCount",
    "TraceFlags",
    "SeverityNumber",
    "TraceId",
    "SpanId",
    "SeverityText",
    "ServiceName",
    "Body",
    "ResourceSchemaUrl",
    "ResourceAttributes",
    "ScopeSchemaUrl",
    "ScopeName",
    "ScopeVersion",
    "ScopeAttributes",
    "LogAttributes",
    "EventName",
)

#: Rows per payload chunk handed to the server.
CHUNK_ROWS = 8192

_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_TRAILER = struct.pack(">h", -1)
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01T00:00:00Z in Unix microseconds
_INT8_MIN, _INT8_MAX = -(2**63), 2**63 - 1
#: Field count, then (length, value) for six int8 and two int2 columns.
_FIXED = struct.Struct(">h" + "iq" * 6 + "ih" * 2)
_I32 = struct.Struct(">i")
_EMPTY_TEXT = _I32.pack(0)
#: A jsonb field is its length, the binary version byte 1, then the JSON text.
_JSONB_OPEN = b"\x01{"
_JSONB_CLOSE = b"}"
_EMPTY_JSONB = _I32.pack(3) + b"\x01{}"


def escape_nul(text: str) -> str:
    """``text`` with every NUL replaced by :data:`NUL_ESCAPE` (how the store keeps it)."""
    return text.replace("\x00", NUL_ESCAPE)


def _checked_ints(values: list[int], name: str, low: int, high: int) -> list[int]:
    # struct would raise struct.error mid-payload: refuse out-of-range values up front.
    if values and (min(values) < low or max(values) > high):
        raise ValueError(f"{name} outside {low}..{high} in this batch")
    return values


def copy_chunks(batch: LogBatch, chunk_rows: int = CHUNK_ROWS) -> Iterator[bytes]:
    """The whole binary COPY payload of ``batch`` (header, rows, trailer) in chunks.

    Raises :class:`ValueError` (before the first chunk) for values the columns cannot
    hold, :class:`UnicodeError` for text that is not encodable: the batch is refused.
    """
    cols = batch.columns()
    ts = _checked_ints(batch.timestamp, "Timestamp", _INT8_MIN, _INT8_MAX)
    _checked_ints(cols[-4], "ObservedTimestamp", 0, _INT8_MAX)
    names = (
        "DroppedAttributesCount",
        "ResourceDroppedAttributesCount",
        "ScopeDroppedAttributesCount",
    )
    for name, col in zip(names, cols[-3:], strict=True):
        _checked_ints(col, name, _INT8_MIN, _INT8_MAX)
    _checked_ints(batch.trace_flags, "TraceFlags", 0, 255)
    _checked_ints(batch.severity_number, "SeverityNumber", 0, 255)
    texts = (
        batch.trace_id,
        batch.span_id,
        batch.severity_text,
        batch.service_name,
    )
    caches: tuple[dict[int, bytes], ...] = ({}, {}, {})
    yield _HEADER
    for a in range(0, len(ts), chunk_rows):
        b = a + chunk_rows
        fixed = map(
            _FIXED.pack,
            repeat(len(COPY_COLUMNS)),
            repeat(8),
            [t // 1000 - _PG_EPOCH_US for t in ts[a:b]],
            repeat(8),
            ts[a:b],
            repeat(8),
            cols[-4][a:b],
            repeat(8),
            cols[-3][a:b],
            repeat(8),
            cols[-2][a:b],
            repeat(8),
            cols[-1][a:b],
            repeat(2),
            batch.trace_flags[a:b],
            repeat(2),
            batch.severity_number[a:b],
        )
        pieces: list[_Piece] = [list(fixed)]
        for col in texts:
            pieces.extend(_text(col[a:b]))
        pieces.extend(_text(batch.body[a:b], distinct=False))
        pieces.extend(_text(batch.resource_schema_url[a:b]))
        pieces.extend(_jsonb(batch.resource_attributes[a:b], caches[0]))
        pieces.extend(_text(batch.scope_schema_url[a:b]))
        pieces.extend(_text(batch.scope_name[a:b]))
        pieces.extend(_text(batch.scope_version[a:b]))
        pieces.extend(_jsonb(batch.scope_attributes[a:b], caches[1]))
        pieces.extend(_jsonb(batch.log_attributes[a:b], caches[2]))
        pieces.extend(_text(batch.event_name[a:b]))
        # repeat() constants are endless: the row count comes from the list pieces.
        yield b"".join(map(b"".join, zip(*_merged(pieces), strict=False)))
    yield _TRAILER


#: One column's share of every row: a list (one item per row) or a constant.
_Piece = list[bytes] | bytes


def _merged(pieces: list[_Piece]) -> list[Iterator[bytes] | list[bytes]]:
    """``pieces`` with each run of constants joined into one repeated constant."""
    out: list[Iterator[bytes] | list[bytes]] = []
    run: list[bytes] = []
    for p in pieces:
        if isinstance(p, bytes):
            run.append(p)
            continue
        if run:
            out.append(repeat(b"".join(run)))
            run = []
        out.append(p)
    if run:
        out.append(repeat(b"".join(run)))
    return out


def _text_field(value: str) -> bytes:
    data = value.encode()
    return _I32.pack(len(data)) + data


def _text(values: list[str], *, distinct: bool = True) -> list[_Piece]:
    """One text column's field pieces: one or two items per row (length, then data)."""
    if "\x00" in "".join(values):
        values = [v.replace("\x00", NUL_ESCAPE) for v in values]
    if distinct:
        kinds = set(values)
        if len(kinds) == 1:
            return [_text_field(values[0]) if values[0] else _EMPTY_TEXT]
        if len(kinds) * 4 <= len(values):
            fields = {v: _text_field(v) for v in kinds}
            return [list(map(fields.__getitem__, values))]
    data = list(map(str.encode, values))
    return [list(map(_I32.pack, map(len, data))), data]


#: Item separator of the one-call column encoder: a control character, which JSON
#: always escapes inside strings, so it appears raw only between items.
_SEP = "\x1e"
_CUT = "\x1d"  # another one, marking the cuts between dicts while the items are joined
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_ENCODE_MANY = json.JSONEncoder(ensure_ascii=False, separators=(_SEP, ":")).encode


def _json_texts(dicts: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each dict's JSON text without its outer braces, from one encoder call for all.

    The list is encoded with a control character as item separator: between two dicts
    it shows as ``}<sep>{``, inside a dict between its items as ``<sep>"``. When the
    count of ``}<sep>{`` is not exactly one per boundary (a nested value), or the text
    holds an escaped NUL, each dict is encoded on its own instead.
    """
    text = _ENCODE_MANY(list(dicts))
    inner = text[2:-2]  # without the list's "[{" and "}]"
    boundary = "}" + _SEP + "{"
    if inner.count(boundary) == len(dicts) - 1 and NUL_ESCAPE not in text:
        return inner.replace(boundary, _CUT).replace(_SEP, ",").split(_CUT)
    return [_encode_one(d)[1:-1] for d in dicts]


def _encode_one(attrs: Mapping[str, Any]) -> str:
    text = _ENCODE(attrs)
    if NUL_ESCAPE in text:  # json spells NUL \u0000, which jsonb refuses
        clean = {
            escape_nul(k): escape_nul(v) if isinstance(v, str) else v for k, v in attrs.items()
        }
        text = _ENCODE(clean)
    return text


def _jsonb(values: Sequence[Mapping[str, Any]], cache: dict[int, bytes]) -> list[_Piece]:
    """One jsonb column's field pieces, each distinct dict object serialized once.

    ``cache`` (id -> field) lives for one batch, which keeps every dict alive."""
    ids = list(map(id, values))
    objects = dict(zip(ids, values, strict=True))
    if len(objects) * 2 > len(ids):  # mostly distinct (log attributes): four pieces a row
        data = list(map(str.encode, _json_texts(values)))
        return [
            list(map(_I32.pack, map((3).__add__, map(len, data)))),
            _JSONB_OPEN,
            data,
            _JSONB_CLOSE,
        ]
    if len(objects) == 1 and ids[0] in cache:
        return [cache[ids[0]]]
    new = [k for k in objects if k not in cache]
    if new:
        texts = _json_texts([objects[k] for k in new])
        for k, t in zip(new, texts, strict=True):
            body = t.encode()
            cache[k] = _I32.pack(len(body) + 3) + _JSONB_OPEN + body + _JSONB_CLOSE
    if len(objects) == 1:
        return [cache[ids[0]]]
    return [list(map(cache.__getitem__, ids))]
