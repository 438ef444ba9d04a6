"""A batch whose scopes interleave a task's seqs becomes a chunk in seq order.

OTLP groups records by scope: a task's start and end records (scope ``tasklogs.task``)
and its output lines (``tasklogs.stdout``) exported in one batch arrive as seq 1, 5, 2,
3, 4. Streams skip a seq at or below the last one they sent, so the chunk must be in seq
order or lines 2..4 never reach an SSE client (found by the interop docs run).
"""

from __future__ import annotations

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs

from collector_service.component.decode import decode_request
from live_tail.model import chunks_from_batch


def _record(seq: int | None) -> LogRecord:
    rec = LogRecord(time_unix_nano=1_700_000_000_000_000_000 + (seq or 0))
    rec.body.string_value = f"line {seq}"
    if seq is not None:
        rec.attributes.append(KeyValue(key="tasklogs.seq", value=AnyValue(int_value=seq)))
    return rec


def _request(*scopes: list[int | None]) -> ExportLogsServiceRequest:
    rl = ResourceLogs(
        scope_logs=[ScopeLogs(log_records=[_record(s) for s in seqs]) for seqs in scopes]
    )
    rl.resource.attributes.append(
        KeyValue(key="cicd.pipeline.task.run.id", value=AnyValue(string_value="tr-1"))
    )
    return ExportLogsServiceRequest(resource_logs=[rl])


def test_lines_of_interleaved_scopes_come_in_seq_order() -> None:
    (chunk,) = chunks_from_batch(decode_request(_request([1, 5], [2, 3, 4])))
    assert [ln.seq for ln in chunk.lines] == [1, 2, 3, 4, 5]
    assert [ln.body for ln in chunk.lines] == [f"line {i}" for i in range(1, 6)]


def test_lines_without_seq_keep_their_order() -> None:
    (chunk,) = chunks_from_batch(decode_request(_request([None, None], [3, None])))
    assert [ln.body for ln in chunk.lines] == ["line None", "line None", "line 3", "line None"]
