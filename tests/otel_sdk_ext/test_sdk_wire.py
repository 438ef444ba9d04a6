"""The bulk OTLP encoder: the same request the stock encoder builds from SDK records."""

from __future__ import annotations

import logging
import time
from typing import Any

from opentelemetry.context import get_current
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    TraceFlags,
    set_span_in_context,
)

from otel_sdk_ext._delivery import DeliveryProcessor
from otel_sdk_ext._wire import RequestEncoder, SdkRecords, varint


class _Null(LogRecordExporter):
    def export(self, batch: Any) -> LogRecordExportResult:
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


RESOURCE = Resource.create({"service.name": "svc", "cicd.pipeline.task.run.id": "tr-1"})


def _entries() -> list[Any]:
    span = NonRecordingSpan(
        SpanContext(
            trace_id=0x0123456789ABCDEF0123456789ABCDEF,
            span_id=0x0123456789ABCDEF,
            is_remote=False,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
    )
    in_span = set_span_in_context(span)
    now = time.time_ns()
    iostream = {"log.iostream": "stdout"}
    return [
        ("app", time.time(), now, 9, "INFO", "hello 1", None, get_current(), None),
        ("tasklogs.stdout", now, now, 9, "INFO", "a line", iostream, None, None),
        ("tasklogs.stdout", now, now, 9, "INFO", "x" * 300, iostream, None, None),
        ("app", now, now, 13, "WARN", "ünïcødé ✓", None, in_span, None),
        (
            "tasklogs.task",
            now,
            now,
            17,
            "ERROR",
            "task ended with exit code 3",
            {"s": "v", "i": 3, "neg": -5, "big": 2**40, "f": 1.5, "yes": True, "no": False},
            None,
            "tasklogs.task.end",
        ),
        ("app", now, now, 9, "INFO", "", None, None, None),
        ("tasklogs.stdout", now, now, 9, "INFO", "again", iostream, None, None),
    ]


def test_bulk_encoding_matches_the_stock_encoder() -> None:
    entries = _entries()
    first = 1_000_000
    ours = ExportLogsServiceRequest.FromString(RequestEncoder(RESOURCE).encode(entries, first))
    stock = encode_logs(SdkRecords(RESOURCE).build(entries, first))
    assert ours == stock
    scope_logs = ours.resource_logs[0].scope_logs
    assert [s.scope.name for s in scope_logs] == ["app", "tasklogs.stdout", "tasklogs.task"]
    seqs = sorted(
        kv.value.int_value
        for s in scope_logs
        for r in s.log_records
        for kv in r.attributes
        if kv.key == "tasklogs.seq"
    )
    assert seqs == list(range(first, first + len(entries)))


def test_records_the_sdk_made_get_their_seq_appended() -> None:
    provider = LoggerProvider(resource=RESOURCE, shutdown_on_exit=False)
    seen: list[Any] = []

    class Keep(DeliveryProcessor):
        def put(self, entry: Any) -> None:
            seen.append(entry)

    keep = Keep(_Null, resource=RESOURCE)
    provider.add_log_record_processor(keep)
    provider.get_logger("odd").emit(body={"a": [1, 2]}, attributes={"k": (1, 2)})
    provider.shutdown()
    ours = ExportLogsServiceRequest.FromString(RequestEncoder(RESOURCE).encode(seen, 7))
    (record,) = ours.resource_logs[0].scope_logs[0].log_records
    assert ours.resource_logs[0].scope_logs[0].scope.name == "odd"
    attrs = {kv.key: kv.value for kv in record.attributes}
    assert attrs["tasklogs.seq"].int_value == 7
    assert [v.int_value for v in attrs["k"].array_value.values] == [1, 2]
    assert record.body.kvlist_value.values[0].key == "a"


def test_varint() -> None:
    for n in (0, 1, 127, 128, 300, 16383, 16384, 2**21 - 1, 2**21, 2**28 - 1, 2**28, 2**63 - 1):
        value, shift = 0, 0
        for byte in varint(n):
            value |= (byte & 0x7F) << shift
            shift += 7
        assert value == n
    assert varint(-1) == b"\xff" * 9 + b"\x01"


def test_logging_levels_and_extras_keep_their_fields(caplog: Any) -> None:
    del caplog  # the root logger is ours only inside this test
    entries: list[Any] = []

    class Capture(DeliveryProcessor):
        def put(self, entry: Any) -> None:
            entries.append(entry)

    from otel_sdk_ext._handler import TaskLoggingHandler

    provider = LoggerProvider(resource=RESOURCE, shutdown_on_exit=False)
    handler = TaskLoggingHandler(provider, Capture(_Null, resource=RESOURCE).put)
    log = logging.getLogger("wire.test")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("w %s", "arg")
        log.critical("c", extra={"order": 5})
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
        log.propagate = True
        provider.shutdown()
    assert [(e[3], e[4], e[5]) for e in entries] == [
        (13, "WARN", "w arg"),
        (21, "FATAL", "c"),
        (17, "ERROR", "failed"),
    ]
    assert entries[0][6] is None
    assert entries[1][6] == {"order": 5}
    assert entries[2][6]["exception.type"] == "ValueError"
    assert "Traceback" in entries[2][6]["exception.stacktrace"]
