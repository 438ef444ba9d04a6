"""Streamed downloads of a task run's history: text, NDJSON or CSV, page by page.

Times are RFC 3339 to the nanosecond and text lines are :func:`text_line`'s (the format
``tasklogs logs`` is to print too): a body of several lines prints its continuation lines
indented to the body's column, so every line that starts at column 0 starts a record.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import asdict

from fastapi.responses import StreamingResponse

from collector_service.component.store import StoredLog
from collector_service.component.timefmt import rfc3339_ns, text_line

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
    "observed_timestamp",
)


def _text(records: list[StoredLog]) -> str:
    return "".join(text_line(r.timestamp_ns, r.severity_text, r.body) for r in records)


def _ndjson(records: list[StoredLog]) -> str:
    return "".join(json.dumps(asdict(r), ensure_ascii=False) + "\n" for r in records)


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
                rfc3339_ns(r.observed_timestamp_ns) if r.observed_timestamp_ns else "",
            )
        )
    return buf.getvalue()


def response(
    task_run_id: str, fmt: str, pages: AsyncIterator[list[StoredLog]]
) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        first = True
        async for records in pages:
            if fmt == "csv":
                text = _csv(records, first)
            elif fmt == "ndjson":
                text = _ndjson(records)
            else:
                text = _text(records)
            first = False
            if text:
                yield text.encode()

    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in task_run_id)
    return StreamingResponse(
        body(),
        media_type=_MEDIA[fmt],
        headers={"Content-Disposition": f'attachment; filename="{safe}.{_EXT[fmt]}"'},
    )
