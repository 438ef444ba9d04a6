"""OTLP/JSON written by hand from the specification (opentelemetry-proto's JSON mapping:
hex trace and span ids, int64 as decimal strings, enums as integers, bytes as base64,
lowerCamelCase keys), posted to a real ``tasklogs serve``, then compared field by field
with the history API and with the ``otel_logs`` table.

Every AnyValue kind appears as a body and as an attribute; trace and span ids, flags,
observed time, a scope with version and attributes, both schema URLs, an event name and
dropped-attribute counts are set, and every one must come back: through the read API,
bytes as base64 and non-finite doubles as valid JSON.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.interop.fields import (
    CORE,
    NOWHERE,
    TABLE_ONLY,
    Expected,
    api_view,
    assert_fields,
    read_table,
    table_view,
)
from tests.interop.support import start_tasklogs

pytestmark = pytest.mark.e2e

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z, in ns
TRACE, SPAN = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"


def _kv(key: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, "value": value}


#: One attribute of every kind, and the string tasklogs stores for it.
ATTRS = [
    (_kv("s", {"stringValue": "text ünï"}), "text ünï"),
    (_kv("b", {"boolValue": True}), "true"),
    (_kv("i", {"intValue": "9007199254740993"}), "9007199254740993"),  # > 2^53
    (_kv("n", {"intValue": -7}), "-7"),  # a JSON number is allowed too
    (_kv("d", {"doubleValue": 2.5}), "2.5"),
    (
        _kv("a", {"arrayValue": {"values": [{"stringValue": "x"}, {"intValue": "1"}]}}),
        '["x",1]',
    ),
    (
        _kv("m", {"kvlistValue": {"values": [_kv("k", {"stringValue": "v"})]}}),
        '{"k":"v"}',
    ),
]
BYTES_ATTR = (_kv("y", {"bytesValue": "aGVsbG8="}), "aGVsbG8=")
NAN_ATTR = (_kv("nan", {"arrayValue": {"values": [{"doubleValue": "NaN"}]}}), None)

#: Bodies of every kind but bytes, and the string stored for each.
BODIES: list[tuple[dict[str, Any] | None, str]] = [
    ({"stringValue": "plain line"}, "plain line"),
    ({"stringValue": "two\nlines\ttab"}, "two\nlines\ttab"),
    ({"intValue": "42"}, "42"),
    ({"doubleValue": -0.5}, "-0.5"),
    ({"boolValue": False}, "false"),
    (
        {
            "arrayValue": {
                "values": [{"stringValue": "a"}, {"boolValue": True}, {"doubleValue": 1.5}]
            }
        },
        '["a",true,1.5]',
    ),
    (
        {
            "kvlistValue": {
                "values": [
                    _kv("msg", {"stringValue": "hi"}),
                    _kv("n", {"kvlistValue": {"values": [_kv("deep", {"intValue": "3"})]}}),
                ]
            }
        },
        '{"msg":"hi","n":{"deep":3}}',
    ),
    (None, ""),  # no body at all
]


@dataclass
class Sent:
    document: dict[str, Any]
    expected: list[Expected]


def _document(task_run_id: str, records: list[tuple[dict[str, Any], Expected]]) -> Sent:
    resource = {
        "cicd.pipeline.task.run.id": task_run_id,
        "service.name": "json-writer",
        "cicd.pipeline.task.name": "hand-written",
    }
    scope_attrs = {"scope.kind": "manual"}
    doc = {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [_kv(k, {"stringValue": v}) for k, v in resource.items()],
                    "droppedAttributesCount": 1,
                },
                "schemaUrl": "https://opentelemetry.io/schemas/1.26.0",
                "scopeLogs": [
                    {
                        "scope": {
                            "name": "spec.writer",
                            "version": "1.2.3",
                            "attributes": [
                                _kv(k, {"stringValue": v}) for k, v in scope_attrs.items()
                            ],
                        },
                        "schemaUrl": "https://opentelemetry.io/schemas/1.27.0",
                        "logRecords": [rec for rec, _ in records],
                    }
                ],
            }
        ]
    }
    expected = []
    for _, exp in records:
        exp.resource = resource
        exp.resource_schema_url = "https://opentelemetry.io/schemas/1.26.0"
        exp.scope_name, exp.scope_version = "spec.writer", "1.2.3"
        exp.scope_attributes = scope_attrs
        exp.scope_schema_url = "https://opentelemetry.io/schemas/1.27.0"
        expected.append(exp)
    return Sent(doc, expected)


def _record(
    i: int, body: dict[str, Any] | None, stored: str, attrs: list[tuple[dict[str, Any], Any]]
) -> tuple[dict[str, Any], Expected]:
    rec: dict[str, Any] = {
        "timeUnixNano": str(T0 + i * 1_000_000 + 7),  # nanoseconds kept
        "observedTimeUnixNano": str(T0 + i * 1_000_000 + 999),
        "severityNumber": 9 + (i % 4) * 4,
        "severityText": ["INFO", "WARN", "ERROR", "FATAL"][i % 4],
        "attributes": [kv for kv, _ in attrs],
        "droppedAttributesCount": i % 3,
        "flags": 1,
        "traceId": TRACE,
        "spanId": SPAN,
    }
    if i == 0:
        rec["eventName"] = "spec.event"
    if body is not None:
        rec["body"] = body
    exp = Expected(
        time_ns=T0 + i * 1_000_000 + 7,
        observed_ns=T0 + i * 1_000_000 + 999,
        body=stored,
        severity_text=rec["severityText"],
        severity_number=rec["severityNumber"],
        attributes={kv["key"]: s for kv, s in attrs},
        trace_id=TRACE,
        span_id=SPAN,
        trace_flags=1,
        event_name=rec.get("eventName", ""),
        dropped_attributes_count=i % 3,
    )
    return rec, exp


@dataclass
class Delivered:
    sent: Sent
    api: list[dict[str, Any]]
    table: list[dict[str, Any]]


def _post(url: str, doc: dict[str, Any]) -> None:
    resp = httpx.post(
        f"{url}/v1/logs",
        content=json.dumps(doc).encode(),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.json() in ({}, {"partialSuccess": {}})


def _plain() -> list[tuple[dict[str, Any], Expected]]:
    """Every body kind but bytes, every attribute kind but bytes, one record each."""
    return [_record(i, body, stored, ATTRS) for i, (body, stored) in enumerate(BODIES)]


def _bytes() -> list[tuple[dict[str, Any], Expected]]:
    return [
        _record(0, {"bytesValue": "3q2+7w=="}, "3q2+7w==", [BYTES_ATTR]),
        _record(1, {"arrayValue": {"values": [{"bytesValue": "AAE="}]}}, '["AAE="]', [BYTES_ATTR]),
    ]


def _nan() -> list[tuple[dict[str, Any], Expected]]:
    return [_record(0, {"stringValue": "nan"}, "nan", [NAN_ATTR])]


@pytest.fixture(scope="module")
def delivered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Delivered]:
    """Each document posted to one service under a task run of its own; then the table."""
    svc = start_tasklogs(tmp_path_factory.mktemp("otlp-json"))
    out: dict[str, tuple[str, Sent, list[dict[str, Any]]]] = {}
    try:
        for name, records in (("plain", _plain()), ("bytes", _bytes()), ("nan", _nan())):
            trid = f"tr-{uuid.uuid4()}"
            sent = _document(trid, records)
            _post(svc.http_url, sent.document)
            out[name] = (trid, sent, svc.service.wait_for(trid, len(records), timeout=30))
    finally:
        svc.service.stop()
    table = read_table(svc.service.data_dir, *(trid for trid, _, _ in out.values()))
    return {name: Delivered(sent, api, table[trid]) for name, (trid, sent, api) in out.items()}


@pytest.fixture
def plain(delivered: dict[str, Delivered]) -> Delivered:
    return delivered["plain"]


@pytest.fixture
def with_bytes(delivered: dict[str, Delivered]) -> Delivered:
    return delivered["bytes"]


def test_api_returns_the_core_fields(plain: Delivered) -> None:
    assert_fields([api_view(r) for r in plain.api], plain.sent.expected, CORE, "history API")


def test_api_returns_what_the_table_holds(plain: Delivered) -> None:
    assert_fields([api_view(r) for r in plain.api], plain.sent.expected, TABLE_ONLY, "history API")


def test_table_holds_every_field_it_has_a_column_for(plain: Delivered) -> None:
    rows = [table_view(r) for r in plain.table]
    assert_fields(rows, plain.sent.expected, CORE + TABLE_ONLY, "otel_logs")


def test_observed_time_and_dropped_counts_survive(plain: Delivered) -> None:
    assert_fields([table_view(r) for r in plain.table], plain.sent.expected, NOWHERE, "otel_logs")
    assert_fields([api_view(r) for r in plain.api], plain.sent.expected, NOWHERE, "history API")


def test_bytes_are_base64(with_bytes: Delivered) -> None:
    want = with_bytes.sent.expected
    assert_fields([api_view(r) for r in with_bytes.api], want, ("body", "attributes"), "API")
    assert_fields([table_view(r) for r in with_bytes.table], want, ("body", "attributes"), "table")


def test_nan_inside_an_array_is_valid_json(delivered: dict[str, Delivered]) -> None:
    (got,) = delivered["nan"].api
    (row,) = delivered["nan"].table
    for text in (got["log_attributes"]["nan"], row["LogAttributes"]["nan"]):
        json.loads(text, parse_constant=_refuse)  # strict JSON: no NaN


def test_records_sharing_one_timestamp_page_back_whole(tmp_path: Path) -> None:
    """A stock producer sends no tasklogs.seq; 3,000 records with one timestamp (one
    request, as a batching SDK or Collector sends them) must page back whole."""
    trid = f"tr-{uuid.uuid4()}"
    records = [
        {"timeUnixNano": str(T0), "body": {"stringValue": f"same instant {i}"}} for i in range(3000)
    ]
    sent = _document(trid, [(r, Expected(time_ns=T0, body="")) for r in records])
    svc = start_tasklogs(tmp_path)
    try:
        _post(svc.http_url, sent.document)
        svc.service.wait_for(trid, 1, timeout=30)
        bodies: list[str] = []
        cursor: str | None = None
        for _ in range(20):  # pages of 500: 6 are enough when nothing is skipped
            params: dict[str, Any] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
            page = httpx.get(
                f"{svc.service.api_url}/api/v1/tasks/{trid}/logs", params=params, timeout=30
            ).json()
            bodies += [r["body"] for r in page["records"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
    finally:
        svc.service.stop()
    assert sorted(bodies) == sorted(f"same instant {i}" for i in range(3000))


def test_an_unknown_task_run_is_a_404(tmp_path: Path) -> None:
    svc = start_tasklogs(tmp_path)
    try:
        resp = httpx.get(f"{svc.service.api_url}/api/v1/tasks/tr-no-such-run/logs", timeout=10)
    finally:
        svc.service.stop()
    assert resp.status_code == 404
    assert "tr-no-such-run" in resp.json()["detail"]


def _refuse(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
