"""Where a task stream client stands: the ids of task stream events, and their parsing.

A line with a ``tasklogs.seq`` has that seq as its id (``Last-Event-ID: N`` continues with
seq > N). A line without one (a stock OpenTelemetry producer) has its place instead: on
the live stream ``<entry id>/<index>``, from the store ``s/<store cursor>``; a resume from
the first continues from the live stream while it holds that entry, from the second with
the stored lines after that cursor in the store's total order (and live lines without a
seq only if newer).
"""

from __future__ import annotations

from dataclasses import dataclass

from collector_service.component.store import Cursor
from collector_service.errors import StoreError
from live_tail.model import EntryId, LiveLine, parse_entry_id

__all__ = [
    "MAX_POSITION",
    "MAX_RESUME_CHARS",
    "TaskPosition",
    "decode_cursor",
    "in_range",
    "line_id",
    "parse_task_id",
    "stored_line_id",
]

#: Largest seq, timestamp, entry part or index a client may name (the stores' Int64).
MAX_POSITION = 2**63 - 1
#: Longest cursor or ``Last-Event-ID`` accepted (real ones are well under 200 characters).
MAX_RESUME_CHARS = 1024


def decode_cursor(text: str) -> Cursor:
    """A client's cursor, bounded in length and range; :class:`StoreError` otherwise
    (without echoing an oversized input)."""
    if len(text) > MAX_RESUME_CHARS:
        raise StoreError(f"invalid cursor: longer than {MAX_RESUME_CHARS} characters")
    cursor = Cursor.decode(text)
    if max(cursor.seq, cursor.timestamp_ns) > MAX_POSITION:
        raise StoreError(f"invalid cursor {text!r}: position out of range")
    return cursor


def in_range(*values: int) -> bool:
    """Whether every value is a position a store can hold (0..MAX_POSITION)."""
    return all(0 <= v <= MAX_POSITION for v in values)


@dataclass(frozen=True, slots=True)
class TaskPosition:
    """Delivered: lines up to ``seq``; or up to line ``index`` of bus entry ``entry``;
    lines without a seq up to store cursor ``cursor`` (a stored line's id), whose
    timestamp is ``after_ts``."""

    seq: int | None = None
    entry: EntryId | None = None
    index: int = -1
    after_ts: int | None = None
    cursor: Cursor | None = None


def line_id(line: LiveLine, entry_id: str, index: int) -> str:
    """A live line's event id: its seq, else its place in the live stream."""
    return str(line.seq) if line.seq else f"{entry_id}/{index}"


def stored_line_id(line: LiveLine, cursor: Cursor) -> str:
    """A stored line's event id: its seq, else its store cursor."""
    return str(line.seq) if line.seq else f"s/{cursor.encode()}"


def parse_task_id(text: str) -> TaskPosition | None:
    """``N``, ``<ms>-<n>/<index>`` or ``s/<cursor>``; ``None`` when malformed."""
    if len(text) > MAX_RESUME_CHARS:
        return None
    try:
        return _parse_task_id(text)
    except (ValueError, StoreError):
        return None


def _parse_task_id(text: str) -> TaskPosition | None:
    if text.isdigit():
        seq = int(text)
        return TaskPosition(seq=seq) if in_range(seq) else None
    head, sep, tail = text.partition("/")
    if sep and head == "s":
        cursor = decode_cursor(tail)
        return TaskPosition(seq=cursor.seq, after_ts=cursor.timestamp_ns, cursor=cursor)
    if not sep or "-" not in head or not tail.isdigit():
        return None
    entry, index = parse_entry_id(head), int(tail)
    return TaskPosition(entry=entry, index=index) if in_range(*entry, index) else None
