"""Every field and every AnyValue kind survives, on both stores, through the HTTP history
API and the downloads, compared field by field with what the spec says they must be.

One OTLP request (bodies and attributes of every AnyValue kind: string, bool, int,
double including NaN and both infinities, bytes, array, kvlist, empty; nanosecond
timestamps that float arithmetic would round; observed timestamps; dropped-attribute
counts; trace context) goes through the real decoder into each store, then out through
``StoredLog``, the live_tail app's history route and its NDJSON and text downloads.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import httpx
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

from collector_service.component.decode import decode_request
from collector_service.component.store import HistoryQuery, StoredLog
from live_tail import create_app
from live_tail.config import LiveTailConfig
from live_tail.memory_bus import MemoryBus
from tests.live_tail.support import serve
from tests.stores._backends import ContractStore

TASK = "tr-fidelity"
#: 2026-12-02T06:10:43.123456789Z: the last three digits are lost by any float on the way.
BASE_NS = 1_796_191_843_123_456_789


def _s(text: str) -> AnyValue:
    return AnyValue(string_value=text)


def _arr(*values: AnyValue) -> AnyValue:
    return AnyValue(array_value=ArrayValue(values=list(values)))


def _kvl(**values: AnyValue) -> AnyValue:
    return AnyValue(
        kvlist_value=KeyValueList(values=[KeyValue(key=k, value=v) for k, v in values.items()])
    )


#: Every AnyValue kind and the string it must be stored (and read back) as.
KINDS: dict[str, tuple[AnyValue, str]] = {
    "string": (_s("héllo ✓"), "héllo ✓"),
    "multiline": (_s("first\nsecond\r\nthird"), "first\nsecond\r\nthird"),
    "bool": (AnyValue(bool_value=True), "true"),
    "bool_false": (AnyValue(bool_value=False), "false"),
    "int": (AnyValue(int_value=-42), "-42"),
    "int_max": (AnyValue(int_value=2**63 - 1), "9223372036854775807"),
    "int_zero": (AnyValue(int_value=0), "0"),
    "double": (AnyValue(double_value=0.1), "0.1"),
    "double_nan": (AnyValue(double_value=math.nan), "NaN"),
    "double_inf": (AnyValue(double_value=math.inf), "Infinity"),
    "double_ninf": (AnyValue(double_value=-math.inf), "-Infinity"),
    "bytes": (AnyValue(bytes_value=b"\x00\xff\x10tasklogs"), "AP8QdGFza2xvZ3M="),
    "array": (
        _arr(
            _s("a"),
            AnyValue(int_value=1),
            AnyValue(double_value=math.nan),
            AnyValue(double_value=-math.inf),
            AnyValue(bytes_value=b"\x00\xff"),
            AnyValue(bool_value=True),
            AnyValue(),
        ),
        '["a",1,"NaN","-Infinity","AP8=",true,null]',
    ),
    "kvlist": (
        _kvl(
            k=_arr(AnyValue(double_value=1.5)),
            m=_kvl(x=AnyValue(bytes_value=b"\x00\xff"), inf=AnyValue(double_value=math.inf)),
            e=AnyValue(),
        ),
        '{"k":[1.5],"m":{"x":"AP8=","inf":"Infinity"},"e":null}',
    ),
    "empty": (AnyValue(), ""),
}
NAMES = list(KINDS)


def fidelity_request() -> ExportLogsServiceRequest:
    records = [
        LogRecord(
            time_unix_nano=BASE_NS + i,
            observed_time_unix_nano=BASE_NS + 1_000_000_007 + i,
            severity_number=cast("SeverityNumber.ValueType", 9 + i % 16),
            severity_text=f"SEV{i}",
            body=KINDS[name][0],
            attributes=[
                KeyValue(key="tasklogs.seq", value=AnyValue(int_value=i + 1)),
                *(KeyValue(key=f"a.{k}", value=v) for k, (v, _) in KINDS.items()),
            ],
            dropped_attributes_count=i,
            flags=1,
            trace_id=bytes(range(i, i + 16)),
            span_id=bytes(range(i, i + 8)),
            event_name=f"event.{name}",
        )
        for i, name in enumerate(NAMES)
    ]
    resource = Resource(
        attributes=[
            KeyValue(key="service.name", value=_s("fidelity")),
            KeyValue(key="cicd.pipeline.task.run.id", value=_s(TASK)),
            KeyValue(key="cicd.pipeline.run.id", value=_s("run-fidelity")),
            KeyValue(key="cicd.pipeline.task.name", value=_s("check")),
            KeyValue(key="cicd.pipeline.name", value=_s("pipe")),
            KeyValue(key="r.bytes", value=AnyValue(bytes_value=b"\x01\x02")),
            KeyValue(key="r.double", value=AnyValue(double_value=math.nan)),
        ],
        dropped_attributes_count=5,
    )
    scope = InstrumentationScope(name="fidelity.scope", version="1.0", dropped_attributes_count=2)
    return ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=resource, scope_logs=[ScopeLogs(scope=scope, log_records=records)]
            )
        ]
    )


def expected_record(i: int, name: str) -> dict[str, Any]:
    """What each record must read back as: the StoredLog fields, independently computed."""
    return {
        "timestamp_ns": BASE_NS + i,
        "seq": i + 1,
        "severity_text": f"SEV{i}",
        "severity_number": 9 + i % 16,
        "body": KINDS[name][1],
        "service_name": "fidelity",
        "trace_id": bytes(range(i, i + 16)).hex(),
        "span_id": bytes(range(i, i + 8)).hex(),
        "event_name": f"event.{name}",
        "scope_name": "fidelity.scope",
        "resource_attributes": {
            "service.name": "fidelity",
            "cicd.pipeline.task.run.id": TASK,
            "cicd.pipeline.run.id": "run-fidelity",
            "cicd.pipeline.task.name": "check",
            "cicd.pipeline.name": "pipe",
            "r.bytes": "AQI=",
            "r.double": "NaN",
        },
        "log_attributes": {"tasklogs.seq": str(i + 1)}
        | {f"a.{k}": text for k, (_, text) in KINDS.items()},
        "observed_timestamp_ns": BASE_NS + 1_000_000_007 + i,
        "dropped_attributes_count": i,
    }


def record_fields(record: StoredLog) -> dict[str, Any]:
    return {key: getattr(record, key) for key in expected_record(0, NAMES[0])}


def _check_json_texts(expected: dict[str, Any]) -> None:
    strict = json.JSONDecoder(parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    for key in ("a.array", "a.kvlist"):
        strict.decode(expected["log_attributes"][key])  # valid JSON, no NaN literals


@asynccontextmanager
async def _app(store: ContractStore) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(store, bus=MemoryBus(maxlen=100, max_age_s=60), config=LiveTailConfig())
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        yield client


async def test_every_field_and_value_kind_round_trips(empty_store: ContractStore) -> None:
    empty_store.push(decode_request(fidelity_request()))
    page = empty_store.query(HistoryQuery(task_run_id=TASK, limit=100))
    expected = [expected_record(i, name) for i, name in enumerate(NAMES)]
    for e in expected:
        _check_json_texts(e)
    # The store's read side, field by field.
    assert [record_fields(r) for r in page.records] == expected

    async with _app(empty_store) as client:
        resp = await client.get(f"/api/v1/tasks/{TASK}/logs", params={"limit": 100})
        assert resp.status_code == 200, resp.text
        records = resp.json()["records"]
        assert [{k: r[k] for k in expected[0]} for r in records] == expected

        nd = await client.get(f"/api/v1/tasks/{TASK}/logs/download", params={"format": "ndjson"})
        lines = [json.loads(x) for x in nd.text.splitlines()]
        assert [{k: r[k] for k in expected[0]} for r in lines] == expected

        text = await client.get(f"/api/v1/tasks/{TASK}/logs/download", params={"format": "text"})
        out = text.text.splitlines()
        # Nanoseconds exactly; a multi-line body's continuation lines are indented.
        assert out[0] == "2026-12-02T06:10:43.123456789Z SEV0  héllo ✓"
        head = "2026-12-02T06:10:43.123456790Z SEV1  "
        assert out[1:4] == [head + "first", " " * len(head) + "second", " " * len(head) + "third"]
        assert sum(1 for line in out if not line.startswith(" ")) == len(NAMES)
