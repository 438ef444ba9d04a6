"""The row model: a batch of log records held column-wise.

A :class:`LogBatch` holds one list per column of the ``otel_logs`` table (the column
names of the OpenTelemetry Collector contrib ClickHouse exporter), so a writer can hand
the lists straight to a columnar insert without building per-row objects. Resource and
scope attribute dicts are shared by reference between the records that carry them.

Timestamps are integers in nanoseconds since the Unix epoch.

The last columns (:data:`OPTIONAL_COLUMNS`: the observed timestamp and the three
dropped-attribute counts) may be left empty by a builder that has nothing to put there:
an empty list means 0 for every record, and :meth:`LogBatch.columns` fills it in.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["COLUMN_NAMES", "OPTIONAL_COLUMNS", "LogBatch"]

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
    "ObservedTimestamp",
    "DroppedAttributesCount",
    "ResourceDroppedAttributesCount",
    "ScopeDroppedAttributesCount",
)
#: Columns beyond the contrib exporter's: a table may lack them, a builder may leave them
#: empty (0 for every record). The observed timestamp is 0 when the producer sent none.
OPTIONAL_COLUMNS: frozenset[str] = frozenset(COLUMN_NAMES[-4:])


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
    observed_timestamp: list[int] = field(default_factory=list)
    dropped_attributes_count: list[int] = field(default_factory=list)
    resource_dropped_attributes_count: list[int] = field(default_factory=list)
    scope_dropped_attributes_count: list[int] = field(default_factory=list)
    #: Deduplication token: a batch replayed with the same token (after a writer crash)
    #: must be stored at most once. ``None`` when the batch cannot be replayed.
    token: str | None = field(default=None, compare=False)

    def __len__(self) -> int:
        return len(self.timestamp)

    def columns(self) -> list[list[Any]]:
        """The column lists in :data:`COLUMN_NAMES` order (no copies, but an optional
        column left empty comes as a list of zeros)."""
        n = len(self)
        cols: list[list[Any]] = [getattr(self, name) for name in _FIELDS]
        for i in _OPTIONAL_INDEXES:
            if len(cols[i]) != n:
                cols[i] = _padded(cols[i], n)
        return cols

    def extend(self, other: LogBatch) -> None:
        """Append every record of ``other`` to this batch."""
        mine, theirs = len(self), len(other)
        for name in _FIELDS:
            col, more = getattr(self, name), getattr(other, name)
            if name in _OPTIONAL_FIELDS and (len(col) != mine or len(more) != theirs):
                if not col and not more:
                    continue  # both left empty: stays empty (all zeros)
                col[:] = _padded(col, mine)
                more = _padded(more, theirs)
            col.extend(more)

    def rows(self) -> Iterator[dict[str, Any]]:
        """Each record as a dict keyed by column name (for tests and debugging, not hot paths)."""
        cols = self.columns()
        for i in range(len(self)):
            yield {name: col[i] for name, col in zip(COLUMN_NAMES, cols, strict=True)}


#: The column fields of :class:`LogBatch`, in :data:`COLUMN_NAMES` order.
_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(LogBatch) if f.name != "token")
assert len(_FIELDS) == len(COLUMN_NAMES)
_OPTIONAL_INDEXES: tuple[int, ...] = tuple(
    i for i, name in enumerate(COLUMN_NAMES) if name in OPTIONAL_COLUMNS
)
_OPTIONAL_FIELDS: frozenset[str] = frozenset(_FIELDS[i] for i in _OPTIONAL_INDEXES)


def _padded(values: list[Any], n: int) -> list[Any]:
    """``values`` (all of them, or none: a column left empty) as ``n`` values, 0 filled."""
    return [*values[:n], *([0] * (n - len(values)))] if len(values) < n else values
