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

__all__ = ["TaskPosition", "line_id", "parse_task_id", "stored_line_id"]


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
    try:
        if text.isdigit():
            return TaskPosition(seq=int(text))
        head, sep, tail = text.partition("/")
        if not sep:
            return None
        if head == "s":
            cursor = Cursor.decode(tail)
            return TaskPosition(seq=cursor.seq, after_ts=cursor.timestamp_ns, cursor=cursor)
        if "-" not in head or not tail.isdigit():
            return None
        return TaskPosition(entry=parse_entry_id(head), index=int(tail))
    except (ValueError, StoreError):
        return None
