"""Server-side filters, the same for live lines and stored history.

The store gets them in :class:`~collector_service.component.store.HistoryQuery` (so it can use its
indexes); the API applies them again to what the store returns, which makes tenancy and
filtering hold even on a store that does not implement every filter yet.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Annotated

from fastapi import HTTPException, Query

from collector_service.component.store import StoredLog
from live_tail.model import LiveLine
from otel_sdk_ext.semconv import TASK_NAME

__all__ = ["LineFilter", "filter_params"]

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
    _include: re.Pattern[str] | None = None
    _exclude: re.Pattern[str] | None = None

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
        if self._include is not None and self._include.search(body) is None:
            return False
        if self._exclude is not None and self._exclude.search(body) is not None:
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


def _compile(name: str, pattern: str | None) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise HTTPException(
            status_code=400, detail=f"{name}: invalid regular expression: {exc}"
        ) from exc


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
    include: Annotated[str | None, Query(description="regex the body must match")] = None,
    exclude: Annotated[str | None, Query(description="regex the body must not match")] = None,
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
