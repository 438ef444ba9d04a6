from __future__ import annotations

import json

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs, SeverityNumber
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from collector_service.component.decode import count_records, decode_request, parse_request
from collector_service.component.model import COLUMN_NAMES, LogBatch
from collector_service.errors import DecodeError


def kv(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


def sv(text: str) -> AnyValue:
    return AnyValue(string_value=text)


def make_request() -> ExportLogsServiceRequest:
    resource = Resource(
        attributes=[kv("service.name", sv("svc")), kv("cicd.pipeline.task.run.id", sv("tr-1"))]
    )
    records = [
        LogRecord(
            time_unix_nano=1_700_000_000_123_456_789,
            severity_number=SeverityNumber.SEVERITY_NUMBER_INFO,
            severity_text="INFO",
            body=sv("hello"),
            attributes=[
                kv("tasklogs.seq", AnyValue(int_value=1)),
                kv("ok", AnyValue(bool_value=True)),
                kv("ratio", AnyValue(double_value=0.5)),
                kv(
                    "list",
                    AnyValue(array_value=ArrayValue(values=[sv("a"), AnyValue(int_value=2)])),
                ),
            ],
            trace_id=bytes(range(16)),
            span_id=bytes(range(8)),
            flags=0x101,
            event_name="evt",
        ),
        LogRecord(
            observed_time_unix_nano=1_700_000_001_000_000_000,
            body=AnyValue(kvlist_value=KeyValueList(values=[kv("k", sv("v"))])),
        ),
    ]
    return ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=resource,
                schema_url="https://opentelemetry.io/schemas/1.26.0",
                scope_logs=[
                    ScopeLogs(
                        scope=InstrumentationScope(
                            name="scope", version="1.2", attributes=[kv("s", sv("x"))]
                        ),
                        log_records=records,
                    )
                ],
            )
        ]
    )


def test_decode_fills_every_column_like_the_contrib_exporter() -> None:
    batch = decode_request(make_request())
    assert len(batch) == 2
    first, second = list(batch.rows())
    assert list(first) == list(COLUMN_NAMES)
    assert first["Timestamp"] == 1_700_000_000_123_456_789
    assert first["TraceId"] == bytes(range(16)).hex()
    assert first["SpanId"] == bytes(range(8)).hex()
    assert first["TraceFlags"] == 1
    assert (first["SeverityText"], first["SeverityNumber"]) == ("INFO", 9)
    assert first["ServiceName"] == "svc"
    assert first["Body"] == "hello"
    assert first["ResourceSchemaUrl"] == "https://opentelemetry.io/schemas/1.26.0"
    assert first["ResourceAttributes"]["cicd.pipeline.task.run.id"] == "tr-1"
    assert (first["ScopeName"], first["ScopeVersion"]) == ("scope", "1.2")
    assert first["ScopeAttributes"] == {"s": "x"}
    assert first["LogAttributes"] == {
        "tasklogs.seq": "1",
        "ok": "true",
        "ratio": "0.5",
        "list": '["a",2]',
    }
    assert first["EventName"] == "evt"
    # No record timestamp: the observed timestamp stands in, as in the contrib exporter.
    assert second["Timestamp"] == 1_700_000_001_000_000_000
    assert json.loads(second["Body"]) == {"k": "v"}
    assert second["TraceId"] == ""


def test_resource_attributes_are_shared_not_copied_per_record() -> None:
    batch = decode_request(make_request())
    assert batch.resource_attributes[0] is batch.resource_attributes[1]


def test_decode_appends_to_an_existing_batch() -> None:
    batch = LogBatch()
    decode_request(make_request(), batch)
    decode_request(make_request(), batch)
    assert len(batch) == 4
    assert all(len(col) == 4 for col in batch.columns())


def test_parse_and_count() -> None:
    payload = make_request().SerializeToString()
    assert count_records(parse_request(payload)) == 2


def test_malformed_payload_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="malformed"):
        parse_request(b"\xff\xff\xff\x00garbage")


def test_zero_and_empty_values_take_the_exact_path() -> None:
    # The decoder's fast paths test string_value / int_value truthiness; zero values
    # of every kind must still come out as the contrib exporter writes them.
    values = {
        "int0": (AnyValue(int_value=0), "0"),
        "neg": (AnyValue(int_value=-5), "-5"),
        "empty": (sv(""), ""),
        "false": (AnyValue(bool_value=False), "false"),
        "zero": (AnyValue(double_value=0.0), "0.0"),
        "bytes": (AnyValue(bytes_value=b"\x01\xff"), "Af8="),
        "unset": (AnyValue(), ""),
    }
    record = LogRecord(
        time_unix_nano=1,
        body=AnyValue(int_value=0),
        attributes=[kv(k, v) for k, (v, _) in values.items()],
    )
    request = ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=[record])])]
    )
    batch = decode_request(request)
    assert batch.log_attributes == [{k: text for k, (_, text) in values.items()}]
    assert batch.body == ["0"]


def test_records_of_several_resources_and_scopes_keep_their_own_columns() -> None:
    def scope(name: str, n: int, first: int) -> ScopeLogs:
        return ScopeLogs(
            scope=InstrumentationScope(name=name),
            log_records=[
                LogRecord(time_unix_nano=first + i, body=sv(f"{name}{i}")) for i in range(n)
            ],
        )

    request = ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=Resource(attributes=[kv("service.name", sv("a"))]),
                scope_logs=[scope("s1", 2, 10), ScopeLogs(), scope("s2", 1, 20)],
            ),
            ResourceLogs(
                resource=Resource(attributes=[kv("service.name", sv("b"))]),
                scope_logs=[scope("s3", 3, 30)],
            ),
        ]
    )
    batch = decode_request(request, tenant="t1")
    assert batch.timestamp == [10, 11, 20, 30, 31, 32]
    assert batch.scope_name == ["s1", "s1", "s2", "s3", "s3", "s3"]
    assert batch.service_name == ["a", "a", "a", "b", "b", "b"]
    assert batch.body == ["s10", "s11", "s20", "s30", "s31", "s32"]
    assert [r["tasklogs.tenant"] for r in batch.resource_attributes] == ["t1"] * 6
    assert len({len(c) for c in batch.columns()}) == 1


def test_per_record_fix_ups_apply_to_exactly_the_records_that_need_them() -> None:
    records = [
        LogRecord(time_unix_nano=5, observed_time_unix_nano=6, body=sv("a"), flags=1),
        LogRecord(observed_time_unix_nano=7, body=AnyValue(int_value=3), flags=0x1FF),
        LogRecord(time_unix_nano=8, body=sv(""), trace_id=bytes(range(16))),
        LogRecord(time_unix_nano=9, body=AnyValue(), span_id=bytes(range(8))),
    ]
    request = ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=records)])]
    )
    batch = decode_request(request)
    assert batch.timestamp == [5, 7, 8, 9]
    assert batch.body == ["a", "3", "", ""]
    assert batch.trace_flags == [1, 0xFF, 0, 0]
    assert batch.trace_id == ["", "", bytes(range(16)).hex(), ""]
    assert batch.span_id == ["", "", "", bytes(range(8)).hex()]


def _one(record: LogRecord, resource: Resource | None = None) -> LogBatch:
    rl = ResourceLogs(
        resource=resource
        or Resource(
            attributes=[kv("cicd.pipeline.task.run.id", sv("t")), kv("service.name", sv("s"))]
        ),
        scope_logs=[ScopeLogs(log_records=[record])],
    )
    return decode_request(ExportLogsServiceRequest(resource_logs=[rl]))


def _arr(*values: AnyValue) -> AnyValue:
    return AnyValue(array_value=ArrayValue(values=list(values)))


def _map(**values: AnyValue) -> AnyValue:
    return AnyValue(kvlist_value=KeyValueList(values=[kv(k, v) for k, v in values.items()]))


def test_bytes_are_base64_and_non_finite_doubles_never_make_invalid_json() -> None:
    nested = _map(
        b=AnyValue(bytes_value=b"\x00\xffhi"),
        nan=AnyValue(double_value=float("nan")),
        arr=_arr(
            AnyValue(double_value=float("inf")),
            AnyValue(double_value=float("-inf")),
            AnyValue(double_value=1.5),
            AnyValue(bytes_value=b""),
            AnyValue(),
        ),
    )
    record = LogRecord(
        time_unix_nano=1,
        body=nested,
        attributes=[
            kv("bytes", AnyValue(bytes_value=b"\x00\xffhi")),
            kv("nan", AnyValue(double_value=float("nan"))),
            kv("inf", AnyValue(double_value=float("inf"))),
            kv("ninf", AnyValue(double_value=float("-inf"))),
            kv("nested", nested),
        ],
    )
    batch = _one(record)
    expected = {"b": "AP9oaQ==", "nan": "NaN", "arr": ["Infinity", "-Infinity", 1.5, "", None]}
    # Strict JSON (no NaN/Infinity literals): every stored JSON text parses with them refused.
    strict = json.JSONDecoder(parse_constant=lambda c: pytest.fail(f"invalid JSON {c}"))
    assert strict.decode(batch.body[0]) == expected
    attrs = batch.log_attributes[0]
    assert (attrs["bytes"], attrs["nan"], attrs["inf"], attrs["ninf"]) == (
        "AP9oaQ==",
        "NaN",
        "Infinity",
        "-Infinity",
    )
    assert strict.decode(attrs["nested"]) == expected
    # Top-level bytes and doubles in the body: plain text, as the contrib exporter's AsString.
    assert _one(LogRecord(body=AnyValue(bytes_value=b"\x01\xff"))).body == ["Af8="]
    assert _one(LogRecord(body=AnyValue(double_value=float("nan")))).body == ["NaN"]


def test_observed_timestamp_and_dropped_counts_have_columns() -> None:
    rl = ResourceLogs(
        resource=Resource(
            attributes=[kv("cicd.pipeline.task.run.id", sv("t"))], dropped_attributes_count=3
        ),
        scope_logs=[
            ScopeLogs(
                scope=InstrumentationScope(name="s", dropped_attributes_count=2),
                log_records=[
                    LogRecord(
                        time_unix_nano=5, observed_time_unix_nano=7, dropped_attributes_count=1
                    ),
                    LogRecord(observed_time_unix_nano=9),
                ],
            )
        ],
    )
    batch = decode_request(ExportLogsServiceRequest(resource_logs=[rl]))
    assert batch.timestamp == [5, 9]
    assert batch.observed_timestamp == [7, 9]
    assert batch.dropped_attributes_count == [1, 0]
    assert batch.resource_dropped_attributes_count == [3, 3]
    assert batch.scope_dropped_attributes_count == [2, 2]


def test_optional_columns_left_empty_read_as_zeros_and_extend_pads() -> None:
    built = LogBatch(timestamp=[1, 2], body=["a", "b"])  # a builder that skips them
    cols = dict(zip(COLUMN_NAMES, built.columns(), strict=True))
    assert cols["ObservedTimestamp"] == [0, 0]
    assert cols["ScopeDroppedAttributesCount"] == [0, 0]
    decoded = decode_request(make_request())
    built.extend(decoded)
    assert built.observed_timestamp == [0, 0, 0, 1_700_000_001_000_000_000]
    decoded.extend(LogBatch(timestamp=[3]))
    assert decoded.dropped_attributes_count == [0, 0, 0]


def test_a_resource_without_task_identity_gets_one_derived_from_it() -> None:
    bare = Resource(
        attributes=[kv("service.name", sv("api")), kv("service.instance.id", sv("pod-7"))]
    )
    attrs = _one(LogRecord(body=sv("x")), bare).resource_attributes[0]
    assert attrs["cicd.pipeline.task.run.id"] == "api@pod-7"
    assert attrs["cicd.pipeline.run.id"] == "api@pod-7"
    assert attrs["cicd.pipeline.task.name"] == "api"
    assert attrs["cicd.pipeline.name"] == "api"
    assert attrs["tasklogs.identity.derived"] == (
        "cicd.pipeline.task.run.id,cicd.pipeline.run.id,cicd.pipeline.task.name,cicd.pipeline.name"
    )
    on_host = Resource(attributes=[kv("host.name", sv("box"))])
    assert _one(LogRecord(), on_host).resource_attributes[0]["cicd.pipeline.task.run.id"] == (
        "unknown_service@box"
    )
    nothing = _one(LogRecord(), Resource()).resource_attributes[0]
    assert nothing["cicd.pipeline.task.run.id"] == "unknown_service@default"
    # A task run without a pipeline run is a run of its own; what was sent is kept.
    sent = _one(LogRecord()).resource_attributes[0]
    assert (sent["cicd.pipeline.task.run.id"], sent["cicd.pipeline.run.id"]) == ("t", "t")
    assert sent["tasklogs.identity.derived"] == (
        "cicd.pipeline.run.id,cicd.pipeline.task.name,cicd.pipeline.name"
    )
