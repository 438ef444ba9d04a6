"""The history interface every store implements (ClickHouse, PostgreSQL).

One contract, one shared test suite (``tests/stores/``), two implementations. The
semantics below are normative: both stores must return the same records in the same
order for the same :class:`HistoryQuery`.

Selection
    Exactly one of ``task_run_id`` (one task run) or ``pipeline_run_id`` (every task of
    a pipeline run). Further filters are ANDed:

    - ``tenant``: only records whose resource attribute ``tasklogs.tenant`` equals it.
      ``None`` means no restriction (single-tenant deployments, admin tools).
    - ``since_ns`` <= ``Timestamp`` < ``until_ns`` (nanoseconds, either bound optional).
    - ``min_severity``: ``SeverityNumber >= min_severity`` (1..24, OTel numbers).
    - ``text``: case-insensitive substring of ``Body`` (``%``/``_`` are literal).
    - ``include`` / ``exclude``: regular expression that ``Body`` must / must not match
      (RE2, checked with :func:`~collector_service.component.patterns.compile_pattern`
      when the query is built; write the common subset of RE2 and POSIX ERE:
      ``. * + ? | () [] ^ $ {m,n}``, which PostgreSQL reads the same way).
    - ``attributes``: for every ``key=value``, the record's log attribute ``key`` equals
      ``value``, or, when the record has no such log attribute, its resource attribute
      ``key`` does.
    - ``task_name``: resource attribute ``cicd.pipeline.task.name`` equals it.

    - ``task_names``: resource attribute ``cicd.pipeline.task.name`` is one of them.
    - ``match``: the search term of a :class:`Match` (substring or regular expression,
      case-sensitive or not) occurs in ``Body``.

Order (a total order: no two stored lines compare equal)
    Task run: ``(tasklogs.seq, Timestamp, line id)`` ascending. Pipeline run:
    ``(Timestamp, task run id, tasklogs.seq, line id)`` ascending. Records without a seq
    have seq 0. The line id (:attr:`StoredLog.line_id`) is the store's per-line
    tie-breaker, unique among the lines that share the rest of the key.

Duplicates
    ``(task run id, seq)`` with ``seq > 0`` is unique on every read (pages, counts,
    searches): of several stored copies (a batch resent under a new dedup token) the
    first in the order is returned. Cursors of lines with a seq compare by seq alone
    within their task run (``(Timestamp, task run id, seq)`` in a pipeline run), so a
    copy never reappears on the next page.

Pages
    ``after`` (exclusive) continues after a record's :attr:`StoredLog.cursor`;
    ``next_cursor`` is set when the page is full (``len(records) == limit``), else
    ``None``. ``newest=True`` returns the *last* ``limit`` matching records (after
    ``after`` if given), still in ascending order: the late joiner's first screen. Its
    ``next_cursor`` is the cursor of its last record (or ``after`` when it is empty), so
    the caller continues forward from there. ``before`` (exclusive) reads backwards from
    a cursor like ``newest`` does (the last ``limit`` records before it, ascending;
    ``next_cursor`` as for ``newest``). Pages read
    backwards (``newest`` or ``before``) set ``prev_cursor`` to their first record's
    cursor when more records precede it, else ``None``; forward pages leave it ``None``.

Counts and searches (:class:`SearchableStore`)
    ``count`` counts what the query selects (``after``/``before`` bound it; ``limit`` and
    ``newest`` do not apply); ``search`` is that count plus the first ``first`` records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from collector_service.component.patterns import compile_pattern
from collector_service.errors import StoreError
from otel_sdk_ext.semconv import PIPELINE_RUN_ID, TASK_NAME, TASK_RUN_ID, TENANT

__all__ = [
    "MAX_PAGE",
    "MAX_POSITION",
    "Cursor",
    "HistoryPage",
    "HistoryQuery",
    "LogStore",
    "Match",
    "PartitionInfo",
    "RetentionReport",
    "RetentionReporter",
    "RunCursor",
    "RunIndex",
    "RunSummaryRow",
    "RunsPage",
    "RunsQuery",
    "SearchResult",
    "SearchableStore",
    "StoredLog",
    "TaskSummaryRow",
]

MAX_PAGE = 10_000
#: The largest timestamp and line id a cursor can name ("after everything").
MAX_POSITION = 2**63 - 1
_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True, order=True)
class Cursor:
    """Position of a record: its ``tasklogs.seq``, timestamp (ns), task run id and line id.

    Encoded as ``<seq>-<timestamp_ns>[.<line_id>][-<task_run_id>]``; the task run id
    orders records of a pipeline run that share a timestamp, the line id (the store's
    tie-breaker) records that share everything else. A cursor without a line id (an older
    client's) continues with every line at its timestamp: it may repeat, never skip.
    """

    seq: int
    timestamp_ns: int
    task_run_id: str = ""
    line_id: int = 0

    def encode(self) -> str:
        base = f"{self.seq}-{self.timestamp_ns}"
        if self.line_id:
            base = f"{base}.{self.line_id}"
        return f"{base}-{self.task_run_id}" if self.task_run_id else base

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            parts = text.split("-", 2)
            ts, dot, line = parts[1].partition(".")
            if dot and not line.isdigit():
                raise ValueError(line)
            cursor = cls(
                int(parts[0]),
                int(ts),
                parts[2] if len(parts) == 3 else "",
                int(line) if line else 0,
            )
        except (ValueError, IndexError) as exc:
            raise StoreError(
                f"invalid cursor {text!r}: expected "
                "'<seq>-<timestamp_ns>[.<line_id>][-<task_run_id>]'"
            ) from exc
        if (
            min(cursor.seq, cursor.timestamp_ns, cursor.line_id) < 0
            or max(cursor.seq, cursor.timestamp_ns, cursor.line_id) > MAX_POSITION
        ):
            raise StoreError(f"invalid cursor {text!r}: position out of range")
        return cursor


@dataclass(frozen=True, slots=True)
class Match:
    """A search term: a substring or a regular expression (RE2 / POSIX ERE common
    subset), matched case-insensitively unless ``case_sensitive``."""

    pattern: str
    regex: bool = False
    case_sensitive: bool = False

    def __post_init__(self) -> None:
        if self.pattern == "":
            raise StoreError("the search term must not be empty")


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """One page of history; see the module docstring for the exact semantics."""

    task_run_id: str | None = None
    pipeline_run_id: str | None = None
    tenant: str | None = None
    since_ns: int | None = None
    until_ns: int | None = None
    min_severity: int | None = None
    text: str | None = None
    include: str | None = None
    exclude: str | None = None
    attributes: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    task_name: str | None = None
    after: Cursor | None = None
    limit: int = 1000
    newest: bool = False
    #: Exclusive upper bound; the page is the last ``limit`` records before it.
    before: Cursor | None = None
    #: Pipeline run: only these task names (empty: every task).
    task_names: tuple[str, ...] = ()
    match: Match | None = None

    def __post_init__(self) -> None:
        if (self.task_run_id is None) == (self.pipeline_run_id is None):
            raise StoreError("exactly one of task_run_id and pipeline_run_id is required")
        if self.task_run_id == "" or self.pipeline_run_id == "":
            raise StoreError("task_run_id / pipeline_run_id must not be empty")
        if not 1 <= self.limit <= MAX_PAGE:
            raise StoreError(f"limit must be between 1 and {MAX_PAGE}, got {self.limit}")
        if self.min_severity is not None and not 0 <= self.min_severity <= 24:
            raise StoreError(f"min_severity must be between 0 and 24, got {self.min_severity}")
        if (
            self.since_ns is not None
            and self.until_ns is not None
            and self.since_ns > self.until_ns
        ):
            raise StoreError("since must not be after until")
        if self.text == "":
            raise StoreError("text must not be empty")
        # RE2 (and its limits) for every store: raises PatternError (the caller's fault).
        if self.include is not None:
            compile_pattern("include", self.include)
        if self.exclude is not None:
            compile_pattern("exclude", self.exclude)

    @property
    def by_task(self) -> bool:
        return self.task_run_id is not None

    @property
    def backwards(self) -> bool:
        """Whether the page is read from its end (``newest`` or ``before``)."""
        return self.newest or self.before is not None


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
    #: The store's tie-breaker among lines that share seq, timestamp and task run.
    line_id: int = 0
    trace_flags: int = 0
    scope_version: str = ""
    scope_attributes: dict[str, str] = field(default_factory=dict)
    resource_schema_url: str = ""
    scope_schema_url: str = ""
    #: When the record was observed (OTLP ``observed_time_unix_nano``); 0 when not sent.
    observed_timestamp_ns: int = 0
    #: Attributes the producer dropped from this record (OTLP ``dropped_attributes_count``).
    dropped_attributes_count: int = 0

    @property
    def task_run_id(self) -> str:
        return self.resource_attributes.get(TASK_RUN_ID, "")

    @property
    def pipeline_run_id(self) -> str:
        return self.resource_attributes.get(PIPELINE_RUN_ID, "")

    @property
    def task_name(self) -> str:
        return self.resource_attributes.get(TASK_NAME, "")

    @property
    def tenant(self) -> str:
        return self.resource_attributes.get(TENANT, "")

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.seq, self.timestamp_ns, self.task_run_id, self.line_id)


@dataclass(frozen=True, slots=True)
class HistoryPage:
    records: list[StoredLog]
    #: Cursor for the next page; ``None`` when this page was not full (see module doc).
    next_cursor: Cursor | None
    #: Pages read backwards: the first record's cursor when more records precede it.
    prev_cursor: Cursor | None = None


@dataclass(frozen=True, slots=True)
class SearchResult:
    """How many records a search matches in the whole selection, and the first of them."""

    total: int
    matches: list[StoredLog]


@runtime_checkable
class LogStore(Protocol):
    """Read side of a store. Implementations are synchronous and thread-safe."""

    def query(self, query: HistoryQuery) -> HistoryPage:
        """One page of history; raises :class:`StoreError` when the store cannot answer."""
        ...


@runtime_checkable
class SearchableStore(LogStore, Protocol):
    """A store that also counts and searches in the store (both stores are)."""

    def count(self, query: HistoryQuery) -> int:
        """How many records ``query`` selects (paging bounds apply, ``limit`` does not)."""
        ...

    def search(self, query: HistoryQuery, first: int) -> SearchResult:
        """``count(query)`` and the first ``first`` (>= 0) records of ``query``."""
        ...


@dataclass(frozen=True, slots=True)
class PartitionInfo:
    """One partition of a table, as a retention report lists it."""

    table: str
    partition: str
    rows: int
    bytes_on_disk: int
    min_timestamp_ns: int | None
    max_timestamp_ns: int | None


@dataclass(frozen=True, slots=True)
class RetentionReport:
    """What a store holds and what its retention removed: retention is verified."""

    store: str
    #: Configured time to live in seconds; ``None`` keeps everything.
    ttl_seconds: int | None
    partitions: list[PartitionInfo]
    #: Oldest row timestamp over every table, ``None`` when empty.
    oldest_ns: int | None
    #: What retention removed, newest first: ``{"partition", "table", "rows",
    #: "dropped_at_ns"}`` per entry (stores that cannot tell leave it empty).
    dropped: list[dict[str, str | int]] = field(default_factory=list)


@runtime_checkable
class RetentionReporter(Protocol):
    def retention_report(self) -> RetentionReport:
        """Partitions, rows, bytes on disk and oldest row per table, plus what was dropped."""
        ...


# -- the runs index (docs/read-api.md, "Runs index") -----------------------------------


@dataclass(frozen=True, slots=True)
class TaskSummaryRow:
    """One task run as a store's summary table holds it (no log-table scan).

    ``tenant`` is the tenant that first wrote the task run: it owns it for good.
    ``result`` and ``exit_code`` come from its ``tasklogs.task.end`` record (``""`` /
    ``None`` while it has none); ``end_ns`` is that record's timestamp.
    """

    task_run_id: str
    pipeline_run_id: str
    tenant: str
    pipeline_name: str = ""
    task_name: str = ""
    service_name: str = ""
    attempt: int = 0
    first_ns: int = 0
    last_ns: int = 0
    line_count: int = 0
    error_count: int = 0
    first_error_seq: int | None = None
    max_seq: int = 0
    result: str = ""
    exit_code: int | None = None
    end_ns: int | None = None

    @classmethod
    def from_row(cls, r: Sequence[Any]) -> TaskSummaryRow:
        """From a store's row: the fields' values in field order, ``None`` for an unset
        ``first_error_seq`` / ``exit_code`` / ``end_ns`` (extra values are ignored)."""
        return cls(
            task_run_id=str(r[0]),
            pipeline_run_id=str(r[1]),
            tenant=str(r[2]),
            pipeline_name=str(r[3]),
            task_name=str(r[4]),
            service_name=str(r[5]),
            attempt=int(r[6]),
            first_ns=int(r[7]),
            last_ns=int(r[8]),
            line_count=int(r[9]),
            error_count=int(r[10]),
            first_error_seq=None if r[11] is None else int(r[11]),
            max_seq=int(r[12]),
            result=str(r[13]),
            exit_code=None if r[14] is None else int(r[14]),
            end_ns=None if r[15] is None else int(r[15]),
        )


@dataclass(frozen=True, slots=True, order=True)
class RunCursor:
    """Position in the newest-first runs list: after the run started at ``start_ns``."""

    start_ns: int
    run_id: str

    def encode(self) -> str:
        return f"{self.start_ns}:{self.run_id}"

    @classmethod
    def decode(cls, text: str) -> RunCursor:
        head, sep, run_id = text.partition(":")
        if not sep or not head.isdigit() or not run_id:
            raise StoreError(f"invalid runs cursor {text!r}")
        return cls(int(head), run_id)


@dataclass(frozen=True, slots=True)
class RunsQuery:
    """One page of pipeline runs, newest first (by the start of their first task run).

    Only task runs of ``tenant`` count (``None``: every tenant's). ``pipeline``: exact
    pipeline name. ``since_ns`` <= start < ``until_ns``. ``text``: case-insensitive
    substring of the pipeline name, the run id or one of its task names. Task runs
    without a pipeline run id belong to no run and are not listed.
    """

    tenant: str | None = None
    pipeline: str | None = None
    since_ns: int | None = None
    until_ns: int | None = None
    text: str | None = None
    after: RunCursor | None = None
    limit: int = 50

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= 1000:
            raise StoreError(f"limit must be between 1 and 1000, got {self.limit}")


@dataclass(frozen=True, slots=True)
class RunSummaryRow:
    """One pipeline run of the index: the task runs the query's tenant owns in it."""

    run_id: str
    pipeline_name: str
    tasks: list[TaskSummaryRow]

    @property
    def start_ns(self) -> int:
        return min(t.first_ns for t in self.tasks)

    @property
    def cursor(self) -> RunCursor:
        return RunCursor(self.start_ns, self.run_id)


@dataclass(frozen=True, slots=True)
class RunsPage:
    runs: list[RunSummaryRow]
    #: Set when the page is full (``len(runs) == limit``), else ``None``.
    next_cursor: RunCursor | None


@runtime_checkable
class RunIndex(Protocol):
    """The runs index a store keeps beside its log table (synchronous, thread-safe).

    Order: ``runs`` newest first by ``(start_ns, run_id)`` descending; a run's tasks by
    ``(first_ns, task_run_id)``. ``tenant=None`` means no restriction.
    """

    def runs(self, query: RunsQuery) -> RunsPage: ...

    def run(self, run_id: str, tenant: str | None) -> RunSummaryRow | None:
        """The run with its task runs owned by ``tenant``; ``None`` when it has none."""
        ...

    def task(self, task_run_id: str, tenant: str | None) -> TaskSummaryRow | None:
        """The task run, if it exists and ``tenant`` (when given) owns it."""
        ...
