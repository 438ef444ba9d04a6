"""One log line as the CLI handles it, from a history record or a live SSE event alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from otel_sdk_ext.semconv import EVENT_TASK_END, TASK_NAME, TASK_RUN_ID

__all__ = ["Line", "SeenSeqs", "iso_ns"]


def iso_ns(ns: int) -> str:
    """RFC 3339 UTC with all nine digits of the nanoseconds (no float rounding)."""
    seconds, frac = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{frac:09d}Z"


@dataclass(slots=True)
class Line:
    timestamp_ns: int
    seq: int
    severity_text: str
    severity_number: int
    body: str
    task_run_id: str
    task_name: str
    event_name: str
    #: The position in the history's total order: pass to ``--after`` to continue after it.
    cursor: str
    #: The record as the API gave it (``-o json``/``jsonl`` print it, normalized).
    record: dict[str, Any] = field(repr=False)

    @property
    def is_end(self) -> bool:
        return self.event_name == EVENT_TASK_END

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Line:
        """A history record (``GET .../logs``) or a live ``log`` event's data."""
        resource = rec.get("resource_attributes") or {}
        tid = rec.get("task_run_id") or resource.get(TASK_RUN_ID, "")
        seq = int(rec.get("seq") or 0)
        ts = int(rec.get("timestamp_ns") or 0)
        cursor = rec.get("cursor") or (f"{seq}-{ts}-{tid}" if tid else f"{seq}-{ts}")
        return cls(
            timestamp_ns=ts,
            seq=seq,
            severity_text=str(rec.get("severity_text") or ""),
            severity_number=int(rec.get("severity_number") or 0),
            body=str(rec.get("body") or ""),
            task_run_id=tid,
            task_name=rec.get("task_name") or resource.get(TASK_NAME, ""),
            event_name=str(rec.get("event_name") or ""),
            cursor=str(cursor),
            record=rec,
        )

    def as_json(self) -> dict[str, Any]:
        """The same keys for a stored and a live line: the record plus ``time``,
        ``cursor``, ``task_run_id``, ``task_name`` and ``log_attributes``."""
        out = dict(self.record)
        attrs = out.pop("attributes", None)
        if attrs is not None and "log_attributes" not in out:
            out["log_attributes"] = attrs
        out["time"] = out.get("time") or iso_ns(self.timestamp_ns)
        out["cursor"] = self.cursor
        out["task_run_id"] = self.task_run_id
        out["task_name"] = self.task_name
        return out


class SeenSeqs:
    """The seqs of one task run delivered so far: a watermark (every seq up to it) and
    the few above it, so a follow of millions of lines holds almost nothing."""

    __slots__ = ("above", "mark")

    def __init__(self) -> None:
        self.mark = 0
        self.above: set[int] = set()

    def add(self, seq: int) -> bool:
        """Record ``seq``; False when it was delivered before."""
        if seq <= self.mark or seq in self.above:
            return False
        if seq == self.mark + 1:
            self.mark = seq
            while self.mark + 1 in self.above:
                self.mark += 1
                self.above.discard(self.mark)
        else:
            self.above.add(seq)
        return True

    def forget_below(self, seq: int) -> None:
        """Everything up to ``seq`` counts as delivered (a resume with ``--after``)."""
        if seq > self.mark:
            self.mark = seq
            self.above = {s for s in self.above if s > seq}
