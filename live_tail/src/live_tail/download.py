"""Streamed downloads of a task run's or a pipeline run's history: text, NDJSON or CSV.

Times are RFC 3339 to the nanosecond (:func:`rfc3339_ns`, the formatter ``tasklogs logs``
uses too). Text is ``<time> <severity> <body>`` per line (a run's lines carry
``[task name]`` after the time); a body of several lines prints its continuation lines
indented to the body's column, so every line that starts at column 0 starts a record.
NDJSON is one history API ``Record`` per line; CSV has a header row. ``strip_ansi``
drops terminal escape sequences (colours, cursor moves) from bodies.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator
from dataclasses import replace

from fastapi.responses import StreamingResponse

from collector_service.component.store import StoredLog
from collector_service.component.timefmt import rfc3339_ns, text_line
from live_tail.records import record_dict

__all__ = ["response"]

_MEDIA = {"text": "text/plain; charset=utf-8", "ndjson": "application/x-ndjson", "csv": "text/csv"}
_EXT = {"text": "log", "ndjson": "ndjson", "csv": "csv"}
_CSV_COLUMNS = (
    "timestamp",
    "seq",
    "severity_text",
    "severity_number",
    "body",
    "task_run_id",
    "event_name",
    "attributes",
    "task_name",
    "cursor",
    "observed_timestamp",
)
# ECMA-48 CSI and OSC sequences and single-character escapes (a fixed, linear pattern).
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")


def _text(records: list[StoredLog], run: bool) -> str:
    if run:
        return "".join(
            text_line(r.timestamp_ns, r.severity_text, r.body, f"[{r.task_name or r.task_run_id}] ")
            for r in records
        )
    return "".join(text_line(r.timestamp_ns, r.severity_text, r.body) for r in records)


def _ndjson(records: list[StoredLog]) -> str:
    return "".join(json.dumps(record_dict(r), ensure_ascii=False) + "\n" for r in records)


def _csv(records: list[StoredLog], header: bool) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    if header:
        writer.writerow(_CSV_COLUMNS)
    for r in records:
        writer.writerow(
            (
                rfc3339_ns(r.timestamp_ns),
                r.seq,
                r.severity_text,
                r.severity_number,
                r.body,
                r.task_run_id,
                r.event_name,
                json.dumps(r.log_attributes, ensure_ascii=False),
                r.task_name,
                r.cursor.encode(),
                rfc3339_ns(r.observed_timestamp_ns) if r.observed_timestamp_ns else "",
            )
        )
    return buf.getvalue()


def _stripped(records: list[StoredLog]) -> list[StoredLog]:
    return [replace(r, body=_ANSI.sub("", r.body)) if "\x1b" in r.body else r for r in records]


def response(
    name: str,
    fmt: str,
    pages: AsyncIterator[list[StoredLog]],
    *,
    strip_ansi: bool = False,
    run: bool = False,
) -> StreamingResponse:
    """``pages`` streamed as a ``name.<ext>`` attachment in ``fmt``."""

    async def body() -> AsyncIterator[bytes]:
        first = True
        async for page in pages:
            records = _stripped(page) if strip_ansi else page
            if fmt == "csv":
                text = _csv(records, first)
            elif fmt == "ndjson":
                text = _ndjson(records)
            else:
                text = _text(records, run)
            first = False
            if text:
                yield text.encode()

    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return StreamingResponse(
        body(),
        media_type=_MEDIA[fmt],
        headers={"Content-Disposition": f'attachment; filename="{safe}.{_EXT[fmt]}"'},
    )
