"""What travels on the live bus: chunks of lines of one task run, and their addresses.

A :class:`Chunk` is one bus entry: the lines of one task run from one exported batch,
with the task's identity once (design.md: one entry per batch, not per line, is what
keeps Redis at ~360k lines/s). An SSE event addresses a line by ``tasklogs.seq`` on a
task stream, and by ``<entry id>/<index>`` on a run stream.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from collector_service.component.model import LogBatch
from collector_service.component.store import StoredLog
from otel_sdk_ext.semconv import (
    EVENT_TASK_END,
    PIPELINE_RUN_ID,
    SEQ,
    TASK_NAME,
    TASK_RUN_ID,
    TENANT,
)

__all__ = [
    "Chunk",
    "EntryId",
    "LiveLine",
    "chunks_from_batch",
    "parse_entry_id",
    "run_key",
    "run_tasks_key",
    "task_index_key",
    "task_key",
    "task_state_key",
]

#: A bus entry id as a comparable tuple (milliseconds, sequence), like Redis stream ids.
EntryId = tuple[int, int]


def parse_entry_id(text: str) -> EntryId:
    ms, _, n = text.partition("-")
    return int(ms), int(n or 0)


def _tag(pipeline_run_id: str, task_run_id: str) -> str:
    # Every key of one pipeline run shares this hash tag: one Redis Cluster slot.
    return f"{{run:{pipeline_run_id}}}" if pipeline_run_id else f"{{task:{task_run_id}}}"


def task_key(prefix: str, pipeline_run_id: str, task_run_id: str) -> str:
    return f"{prefix}:{_tag(pipeline_run_id, task_run_id)}:task:{task_run_id}"


def run_key(prefix: str, pipeline_run_id: str) -> str:
    return f"{prefix}:{_tag(pipeline_run_id, '')}:run"


def run_tasks_key(prefix: str, pipeline_run_id: str) -> str:
    """The run's task index: task run id -> ``"<first entry id> <last entry id>"``."""
    return f"{prefix}:{_tag(pipeline_run_id, '')}:tasks"


def task_index_key(prefix: str, task_run_id: str) -> str:
    """Where a task run's pipeline run and tenant are found (SSE URLs name the task only)."""
    return f"{prefix}:taskrun:{{{task_run_id}}}"


def task_state_key(prefix: str, task_run_id: str) -> str:
    """A task run's live state (task_state.py): a hash on the slot of its index key."""
    return f"{prefix}:taskstate:{{{task_run_id}}}"


@dataclass(slots=True)
class LiveLine:
    """One log line on the bus; ``sse_data`` caches its JSON for every subscriber."""

    timestamp_ns: int
    seq: int
    severity_number: int
    severity_text: str
    body: str
    event_name: str
    attributes: dict[str, str]
    scope_name: str = ""
    trace_id: str = ""
    span_id: str = ""
    _json: str | None = field(default=None, repr=False)

    @property
    def is_end(self) -> bool:
        return self.event_name == EVENT_TASK_END

    def to_list(self) -> list[Any]:
        return [
            self.timestamp_ns,
            self.seq,
            self.severity_number,
            self.severity_text,
            self.body,
            self.event_name,
            self.attributes,
            self.scope_name,
            self.trace_id,
            self.span_id,
        ]

    @classmethod
    def from_list(cls, v: list[Any]) -> LiveLine:
        return cls(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9])

    @classmethod
    def from_stored(cls, r: StoredLog) -> LiveLine:
        return cls(
            r.timestamp_ns,
            r.seq,
            r.severity_number,
            r.severity_text,
            r.body,
            r.event_name,
            r.log_attributes,
            r.scope_name,
            r.trace_id,
            r.span_id,
        )


@dataclass(slots=True)
class Chunk:
    """The lines of one task run from one batch: one bus entry."""

    task_run_id: str
    pipeline_run_id: str
    tenant: str
    resource: dict[str, str]
    lines: list[LiveLine]

    @property
    def task_name(self) -> str:
        return self.resource.get(TASK_NAME, "")

    def encode(self) -> bytes:
        return json.dumps(
            {"r": self.resource, "l": [ln.to_list() for ln in self.lines]},
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()

    @classmethod
    def decode(cls, data: bytes) -> Chunk:
        raw = json.loads(data)
        res: dict[str, str] = raw["r"]
        return cls(
            res.get(TASK_RUN_ID, ""),
            res.get(PIPELINE_RUN_ID, ""),
            res.get(TENANT, ""),
            res,
            [LiveLine.from_list(v) for v in raw["l"]],
        )


def _seq(attrs: dict[str, str]) -> int:
    raw = attrs.get(SEQ)
    if raw is None:
        return 0
    try:
        return int(raw)
    except ValueError:
        return 0


def chunks_from_batch(batch: LogBatch) -> list[Chunk]:
    """Group a batch's records by task run (and resource), in arrival order.

    Resource dicts are shared by reference between the records of one resource, so the
    grouping key is the dict's identity: no per-record attribute work beyond the seq.
    """
    chunks: dict[int, Chunk] = {}
    res_col = batch.resource_attributes
    for i in range(len(batch)):
        res = res_col[i]
        chunk = chunks.get(id(res))
        if chunk is None:
            tid = res.get(TASK_RUN_ID, "")
            if not tid:
                continue  # not a task's line: nothing to tail it by
            chunk = Chunk(tid, res.get(PIPELINE_RUN_ID, ""), res.get(TENANT, ""), res, [])
            chunks[id(res)] = chunk
        attrs = batch.log_attributes[i]
        chunk.lines.append(
            LiveLine(
                batch.timestamp[i],
                _seq(attrs),
                batch.severity_number[i],
                batch.severity_text[i],
                batch.body[i],
                batch.event_name[i],
                attrs,
                batch.scope_name[i],
                batch.trace_id[i],
                batch.span_id[i],
            )
        )
    # Merge chunks of the same task run that came under different resource dicts.
    merged: dict[str, Chunk] = {}
    for chunk in chunks.values():
        prev = merged.get(chunk.task_run_id)
        if prev is None:
            merged[chunk.task_run_id] = chunk
        else:
            prev.lines.extend(chunk.lines)
    for chunk in merged.values():
        _in_seq_order(chunk.lines)
    return list(merged.values())


def _in_seq_order(lines: list[LiveLine]) -> None:
    """Sort a chunk's lines by ``tasklogs.seq`` when every line has one.

    An OTLP request groups records by scope, so one batch of a task can carry
    ``task.start`` (seq 1) and ``task.end`` (seq 5) under one scope before the output
    lines 2..4 under another; streams deliver a chunk's lines in order and skip a seq at
    or below the last one sent, so out of order they would lose 2..4.
    """
    seqs = [ln.seq for ln in lines]
    if all(seqs) and any(a > b for a, b in pairwise(seqs)):
        lines.sort(key=lambda ln: ln.seq)
