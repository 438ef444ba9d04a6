"""The OTLP/JSON converter against the protobuf library's own JSON mapping."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from google.protobuf import json_format
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

from collector_service.errors import DecodeError
from collector_service.receivers.otlp_json import parse_json_request


def _rich_request() -> ExportLogsServiceRequest:
    values = [
        AnyValue(string_value="s"),
        AnyValue(bool_value=True),
        AnyValue(int_value=-(2**62)),
        AnyValue(double_value=1.5),
        AnyValue(bytes_value=b"\x00\xffbytes"),
        AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=1), AnyValue()])),
        AnyValue(
            kvlist_value=KeyValueList(values=[KeyValue(key="k", value=AnyValue(string_value="v"))])
        ),
    ]
    attrs = [KeyValue(key=f"a{i}", value=v) for i, v in enumerate(values)]
    record = LogRecord(
        time_unix_nano=2**63 + 5,
        observed_time_unix_nano=1_700_000_000_000_000_000,
        severity_number=SeverityNumber.SEVERITY_NUMBER_ERROR,
        severity_text="ERROR",
        body=AnyValue(kvlist_value=KeyValueList(values=attrs[:3])),
        attributes=attrs,
        dropped_attributes_count=2,
        flags=1,
        trace_id=bytes.fromhex("5b8efff798038103d269b633813fc60c"),
        span_id=bytes.fromhex("eee19b7ec3c1b174"),
        event_name="tasklogs.task.end",
    )
    return ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=Resource(attributes=attrs[:1], dropped_attributes_count=1),
                scope_logs=[
                    ScopeLogs(
                        scope=InstrumentationScope(name="n", version="1", attributes=attrs[1:2]),
                        log_records=[record, LogRecord(body=AnyValue(string_value=""))],
                        schema_url="https://scope",
                    )
                ],
                schema_url="https://res",
            )
        ]
    )


def _otlp_json(request: ExportLogsServiceRequest, *, snake: bool = False) -> dict[str, Any]:
    """The OTLP/JSON encoding: the protobuf mapping with hex ids and integer enums."""
    doc: dict[str, Any] = json_format.MessageToDict(
        request, preserving_proto_field_name=snake, use_integers_for_enums=True
    )
    tid, sid = ("trace_id", "span_id") if snake else ("traceId", "spanId")
    for rl in doc.get("resource_logs" if snake else "resourceLogs", []):
        for sl in rl.get("scope_logs" if snake else "scopeLogs", []):
            for rec in sl.get("log_records" if snake else "logRecords", []):
                for key in (tid, sid):
                    if key in rec:
                        rec[key] = base64.b64decode(rec[key]).hex()
    return doc


@pytest.mark.parametrize("snake", [False, True])
def test_round_trip_of_every_field_and_value_kind(snake: bool) -> None:
    request = _rich_request()
    parsed = parse_json_request(json.dumps(_otlp_json(request, snake=snake)).encode())
    assert parsed == request


def test_numbers_for_int64_enum_names_and_unknown_fields() -> None:
    doc = {
        "resourceLogs": [
            {
                "future": 1,
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": 12,
                                "severityNumber": "SEVERITY_NUMBER_WARN",
                                "body": {"intValue": 7, "unknownKind": 1},
                                "attributes": [{"key": "d", "value": {"doubleValue": "NaN"}}],
                            }
                        ]
                    }
                ],
            }
        ]
    }
    (rec,) = parse_json_request(json.dumps(doc).encode()).resource_logs[0].scope_logs[0].log_records
    assert rec.time_unix_nano == 12
    assert rec.severity_number == 13
    assert rec.body.int_value == 7
    assert rec.attributes[0].value.double_value != rec.attributes[0].value.double_value  # NaN


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ({"resourceLogs": {}}, "resourceLogs: expected an array"),
        ({"resourceLogs": [{"scopeLogs": [{"logRecords": [{"timeUnixNano": "x"}]}]}]}, "integer"),
        ({"resourceLogs": [{"scopeLogs": [{"logRecords": [{"timeUnixNano": -1}]}]}]}, "malformed"),
        ({"resourceLogs": [{"scopeLogs": [{"logRecords": [{"spanId": "zz"}]}]}]}, "hex"),
        ({"resourceLogs": [{"scopeLogs": [{"logRecords": [{"flags": True}]}]}]}, "integer"),
        (
            {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"boolValue": 1}}]}]}]},
            "true or false",
        ),
        (
            {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"bytesValue": "*"}}]}]}]},
            "base64",
        ),
        (
            {
                "resourceLogs": [
                    {"scopeLogs": [{"logRecords": [{"severityNumber": "SEVERITY_NUMBER_X"}]}]}
                ]
            },
            "unknown severity",
        ),
        ([], "must be an object"),
    ],
)
def test_malformed_json_documents(doc: Any, needle: str) -> None:
    with pytest.raises(DecodeError, match=needle):
        parse_json_request(json.dumps(doc).encode())
