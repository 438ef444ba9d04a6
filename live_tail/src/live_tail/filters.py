"""Server-side filters, the same for live lines and stored history.

The store gets them in :class:`~collector_service.component.store.HistoryQuery` (so it can use its
indexes); the API applies them again to what the store returns, which makes tenancy and
filtering hold even on a store that does not implement every filter yet.

``include``/``exclude`` are RE2 (:mod:`collector_service.component.patterns`), checked
before any query is built: a pattern RE2 refuses answers 400 with RE2's reason. Matching
is linear in the body, and :func:`filter_stored` moves large pages to a worker thread
(RE2 releases the GIL while it matches), so no filter holds the event loop that also runs
the receivers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Annotated

from fastapi import HTTPException, Query
from starlette.concurrency import run_in_threadpool

from collector_service.component.patterns import UserPattern, compile_pattern
from collector_service.component.store import StoredLog
from collector_service.errors import PatternError
from live_tail.model import LiveLine
from otel_sdk_ext.semconv import TASK_NAME

__all__ = ["INLINE_FILTER_BYTES", "LineFilter", "filter_params", "filter_stored"]

#: Pages whose bodies add up to more than this are filtered on a worker thread.
INLINE_FILTER_BYTES = 256 * 1024

_SEVERITY_NAMES = {
    "TRACE": 1,
    "DEBUG": 5,
    "INFO": 9,
    "WARN": 13,
    "WARNING": 13,
    "ERROR": 17,
    "CRITICAL": 21,
    "FATAL": 21,
}


@dataclass(frozen=True, slots=True)
class LineFilter:
    min_severity: int | None = None
    include: str | None = None
    exclude: str | None = None
    text: str | None = None
    attributes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    task_name: str | None = None
    _include: UserPattern | None = None
    _exclude: UserPattern | None = None

    @property
    def active(self) -> bool:
        return bool(
            self.min_severity
            or self.include
            or self.exclude
            or self.text
            or self.attributes
            or self.task_name
        )

    def chunk_ok(self, resource: Mapping[str, str]) -> bool:
        """The resource-level part (task name): one check per bus entry."""
        return self.task_name is None or resource.get(TASK_NAME, "") == self.task_name

    def line_ok(self, line: LiveLine, resource: Mapping[str, str]) -> bool:
        if self.min_severity and line.severity_number < self.min_severity:
            return False
        body = line.body
        if self.text is not None and self.text.lower() not in body.lower():
            return False
        if self._include is not None and not self._include.search(body):
            return False
        if self._exclude is not None and self._exclude.search(body):
            return False
        for key, value in self.attributes.items():
            got = line.attributes.get(key)
            if got is None:
                got = resource.get(key)
            if got != value:
                return False
        return True

    def stored_ok(self, record: StoredLog) -> bool:
        if not self.chunk_ok(record.resource_attributes):
            return False
        return self.line_ok(LiveLine.from_stored(record), record.resource_attributes)


def _compile(name: str, pattern: str | None) -> UserPattern | None:
    if pattern is None:
        return None
    try:
        return compile_pattern(name, pattern)
    except PatternError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc


async def filter_stored(
    records: Sequence[StoredLog], keep: Callable[[StoredLog], bool], flt: LineFilter
) -> list[StoredLog]:
    """``records`` that ``keep`` accepts; on a worker thread when ``flt`` has a regex and
    the page is large, so matching never holds the event loop."""
    if (flt.include or flt.exclude) and sum(len(r.body) for r in records) > INLINE_FILTER_BYTES:
        return await run_in_threadpool(lambda: [r for r in records if keep(r)])
    return [r for r in records if keep(r)]


def _severity(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    number = int(value) if value.isdigit() else _SEVERITY_NAMES.get(value.upper(), -1)
    if not 1 <= number <= 24:
        raise HTTPException(
            status_code=400,
            detail=f"min_severity: expected 1..24 or one of {', '.join(_SEVERITY_NAMES)}",
        )
    return number


def filter_params(
    *,
    min_severity: Annotated[
        str | None,
        Query(description="lowest severity: an OTel number 1..24 or TRACE/DEBUG/INFO/WARN/ERROR"),
    ] = None,
    level: Annotated[str | None, Query(description="the same as min_severity")] = None,
    include: Annotated[
        str | None,
        Query(description="RE2 regex the body must match (at most 1024 characters)"),
    ] = None,
    exclude: Annotated[
        str | None,
        Query(description="RE2 regex the body must not match (at most 1024 characters)"),
    ] = None,
    text: Annotated[
        str | None, Query(min_length=1, description="case-insensitive substring of the body")
    ] = None,
    attr: Annotated[
        list[str] | None,
        Query(description="KEY=VALUE, repeatable: log (else resource) attribute equals VALUE"),
    ] = None,
    task_name: Annotated[
        str | None, Query(description="only lines of tasks with this cicd.pipeline.task.name")
    ] = None,
) -> LineFilter:
    """The filter query parameters shared by every log endpoint."""
    attributes: dict[str, str] = {}
    for item in attr or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise HTTPException(status_code=400, detail=f"attr: expected KEY=VALUE, got {item!r}")
        attributes[key] = value
    return LineFilter(
        min_severity=_severity(min_severity if min_severity is not None else level),
        include=include,
        exclude=exclude,
        text=text,
        attributes=MappingProxyType(attributes),
        task_name=task_name,
        _include=_compile("include", include),
        _exclude=_compile("exclude", exclude),
    )
