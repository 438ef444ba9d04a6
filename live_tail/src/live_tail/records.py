"""The history API's shapes: a stored line as a ``Record``, pages, searches, and times.

Times go out as RFC 3339 strings with nanoseconds (``2026-12-02T06:00:00.123456789Z``)
beside their ``*_ns`` integers, and come in (``since``/``until``) as either. Pages are
serialized straight to JSON (thousands of records: no per-record model validation);
the pydantic models here document them in OpenAPI.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from fastapi import HTTPException
from pydantic import BaseModel, Field

from collector_service.component.store import Cursor, StoredLog
from collector_service.component.timefmt import rfc3339_ns

__all__ = [
    "HistoryResponse",
    "Record",
    "RunHistoryResponse",
    "SearchMatch",
    "SearchResponse",
    "page_json",
    "parse_time",
    "record_dict",
    "rfc3339",
]

_NS = 1_000_000_000
_TIME_RE = re.compile(
    r"^(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$"
)


def rfc3339(ns: int) -> str:
    """``ns`` since the epoch as RFC 3339 in UTC with all nine fraction digits."""
    return rfc3339_ns(ns)


def parse_time(name: str, text: str | None) -> int | None:
    """A ``since``/``until`` value: integer nanoseconds or RFC 3339 (ns precision)."""
    if text is None or text == "":
        return None
    if text.isdigit():
        return int(text)
    m = _TIME_RE.fullmatch(text.strip())
    if m is None:
        raise HTTPException(
            status_code=400,
            detail=f"{name}: expected RFC 3339 (2026-01-02T03:04:05.123456789Z) or ns",
        )
    zone = "+00:00" if m.group(3) in "Zz" else m.group(3)
    try:
        base = datetime.fromisoformat(m.group(1).replace(" ", "T") + zone)
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=f"{name}: {exc}") from exc
    fraction = int((m.group(2) or "").ljust(9, "0"))
    ns = int(base.timestamp()) * _NS + fraction
    if ns < 0:
        raise HTTPException(status_code=400, detail=f"{name}: before 1970")
    return ns


class Record(BaseModel):
    """One stored log line, every field the table holds."""

    time: str = Field(description="RFC 3339, nanoseconds, UTC")
    timestamp_ns: int = Field(description="the same as integer ns (not for JavaScript)")
    observed_time: str | None = None
    observed_timestamp_ns: int | None = None
    seq: int = Field(description="tasklogs.seq, 0 when the producer sent none")
    cursor: str = Field(description="pass as cursor= (continue after) or before=")
    severity_text: str
    severity_number: int
    body: str
    service_name: str
    task_run_id: str
    task_name: str
    pipeline_run_id: str
    trace_id: str
    span_id: str
    trace_flags: int
    event_name: str
    scope_name: str
    scope_version: str
    resource_attributes: dict[str, str]
    log_attributes: dict[str, str]
    scope_attributes: dict[str, str]
    resource_schema_url: str
    scope_schema_url: str
    dropped_attributes_count: int = Field(
        0, description="attributes the producer dropped from the record"
    )


class HistoryResponse(BaseModel):
    """One page of a task run's history."""

    task_run_id: str
    records: list[Record]
    #: Pass as ``cursor`` for the next page; null when nothing follows (yet).
    next_cursor: str | None
    #: Pass as ``before`` for the page before; null at line 1.
    prev_cursor: str | None


class RunHistoryResponse(BaseModel):
    """One page of a pipeline run's history, every task merged."""

    run_id: str
    records: list[Record]
    next_cursor: str | None
    prev_cursor: str | None


class SearchMatch(BaseModel):
    seq: int
    cursor: str
    task_run_id: str


class SearchResponse(BaseModel):
    """How many lines of the whole history match, and where the first ones are."""

    total: int
    matches: list[SearchMatch]


def record_dict(r: StoredLog) -> dict[str, Any]:
    """``r`` as a :class:`Record` (a plain dict, for speed)."""
    observed = r.observed_timestamp_ns or None
    return {
        "time": rfc3339(r.timestamp_ns),
        "timestamp_ns": r.timestamp_ns,
        "observed_time": rfc3339(observed) if observed else None,
        "observed_timestamp_ns": observed,
        "seq": r.seq,
        "cursor": r.cursor.encode(),
        "severity_text": r.severity_text,
        "severity_number": r.severity_number,
        "body": r.body,
        "service_name": r.service_name,
        "task_run_id": r.task_run_id,
        "task_name": r.task_name,
        "pipeline_run_id": r.pipeline_run_id,
        "trace_id": r.trace_id,
        "span_id": r.span_id,
        "trace_flags": r.trace_flags,
        "event_name": r.event_name,
        "scope_name": r.scope_name,
        "scope_version": r.scope_version,
        "resource_attributes": r.resource_attributes,
        "log_attributes": r.log_attributes,
        "scope_attributes": r.scope_attributes,
        "resource_schema_url": r.resource_schema_url,
        "scope_schema_url": r.scope_schema_url,
        "dropped_attributes_count": r.dropped_attributes_count,
    }


def page_json(
    key: str,
    ident: str,
    records: list[StoredLog],
    next_cursor: Cursor | None,
    prev_cursor: Cursor | None,
) -> bytes:
    """A :class:`HistoryResponse` (``key`` ``task_run_id``) or :class:`RunHistoryResponse`
    (``run_id``) as JSON bytes."""
    return json.dumps(
        {
            key: ident,
            "records": [record_dict(r) for r in records],
            "next_cursor": next_cursor.encode() if next_cursor else None,
            "prev_cursor": prev_cursor.encode() if prev_cursor else None,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
