"""The history interface every store implements (ClickHouse, PostgreSQL).

Queries return :class:`StoredLog` records in the order a reader wants them: by
``tasklogs.seq`` then timestamp within one task run. Pagination is by an opaque cursor
that names the last record returned, so a page boundary never drops or repeats a line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from collector_service.errors import StoreError

__all__ = ["Cursor", "HistoryPage", "HistoryQuery", "LogStore", "StoredLog"]

MAX_PAGE = 10_000


@dataclass(frozen=True, slots=True, order=True)
class Cursor:
    """Position after a record: its ``tasklogs.seq`` and timestamp (ns)."""

    seq: int
    timestamp_ns: int

    def encode(self) -> str:
        return f"{self.seq}-{self.timestamp_ns}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            seq, ts = text.split("-", 1)
            cursor = cls(int(seq), int(ts))
        except ValueError as exc:
            raise StoreError(f"invalid cursor {text!r}: expected '<seq>-<timestamp_ns>'") from exc
        if cursor.seq < 0 or cursor.timestamp_ns < 0:
            raise StoreError(f"invalid cursor {text!r}: negative position")
        return cursor


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """One page of one task run's history, after ``after`` (exclusive)."""

    task_run_id: str
    after: Cursor | None = None
    limit: int = 1000

    def __post_init__(self) -> None:
        if not self.task_run_id:
            raise StoreError("task_run_id must not be empty")
        if not 1 <= self.limit <= MAX_PAGE:
            raise StoreError(f"limit must be between 1 and {MAX_PAGE}, got {self.limit}")


@dataclass(frozen=True, slots=True)
class StoredLog:
    """One stored log record as history queries return it."""

    timestamp_ns: int
    seq: int
    severity_text: str
    severity_number: int
    body: str
    service_name: str
    trace_id: str = ""
    span_id: str = ""
    event_name: str = ""
    scope_name: str = ""
    resource_attributes: dict[str, str] = field(default_factory=dict)
    log_attributes: dict[str, str] = field(default_factory=dict)

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.seq, self.timestamp_ns)


@dataclass(frozen=True, slots=True)
class HistoryPage:
    records: list[StoredLog]
    #: Cursor for the next page; ``None`` when this page was not full.
    next_cursor: Cursor | None


@runtime_checkable
class LogStore(Protocol):
    """Read side of a store. Implementations are synchronous and thread-safe."""

    def query(self, query: HistoryQuery) -> HistoryPage:
        """One page of history; raises :class:`StoreError` when the store cannot answer."""
        ...
