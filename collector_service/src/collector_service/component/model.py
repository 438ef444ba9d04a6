"""The row model: a batch of log records held column-wise.

A :class:`LogBatch` holds one list per column of the ``otel_logs`` table (the column
names of the OpenTelemetry Collector contrib ClickHouse exporter), so a writer can hand
the lists straight to a columnar insert without building per-row objects. Resource and
scope attribute dicts are shared by reference between the records that carry them.

Timestamps are integers in nanoseconds since the Unix epoch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["COLUMN_NAMES", "LogBatch"]

Attributes = dict[str, str]

#: Column names, in ``otel_logs`` order, as :meth:`LogBatch.columns` yields them.
COLUMN_NAMES: tuple[str, ...] = (
    "Timestamp",
    "TraceId",
    "SpanId",
    "TraceFlags",
    "SeverityText",
    "SeverityNumber",
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


@dataclass(slots=True)
class LogBatch:
    """Log records as parallel column lists; every list has the same length."""

    timestamp: list[int] = field(default_factory=list)
    trace_id: list[str] = field(default_factory=list)
    span_id: list[str] = field(default_factory=list)
    trace_flags: list[int] = field(default_factory=list)
    severity_text: list[str] = field(default_factory=list)
    severity_number: list[int] = field(default_factory=list)
    service_name: list[str] = field(default_factory=list)
    body: list[str] = field(default_factory=list)
    resource_schema_url: list[str] = field(default_factory=list)
    resource_attributes: list[Attributes] = field(default_factory=list)
    scope_schema_url: list[str] = field(default_factory=list)
    scope_name: list[str] = field(default_factory=list)
    scope_version: list[str] = field(default_factory=list)
    scope_attributes: list[Attributes] = field(default_factory=list)
    log_attributes: list[Attributes] = field(default_factory=list)
    event_name: list[str] = field(default_factory=list)
    #: Deduplication token: a batch replayed with the same token (after a writer crash)
    #: must be stored at most once. ``None`` when the batch cannot be replayed.
    token: str | None = field(default=None, compare=False)

    def __len__(self) -> int:
        return len(self.timestamp)

    def columns(self) -> list[list[Any]]:
        """The column lists in :data:`COLUMN_NAMES` order (no copies)."""
        return [getattr(self, name) for name in _FIELDS]

    def extend(self, other: LogBatch) -> None:
        """Append every record of ``other`` to this batch."""
        for name in _FIELDS:
            getattr(self, name).extend(getattr(other, name))

    def rows(self) -> Iterator[dict[str, Any]]:
        """Each record as a dict keyed by column name (for tests and debugging, not hot paths)."""
        cols = self.columns()
        for i in range(len(self)):
            yield {name: col[i] for name, col in zip(COLUMN_NAMES, cols, strict=True)}


#: The column fields of :class:`LogBatch`, in :data:`COLUMN_NAMES` order.
_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(LogBatch) if f.name != "token")
assert len(_FIELDS) == len(COLUMN_NAMES)
