"""The hostile inputs of issue 16, one by one, against a real service with two tenants.

Each gets a clear 4xx (or is accepted and stored), never a 5xx: deep nesting, 100,000
attributes, 10 MB lines, compression bombs, SQL-shaped filters and attribute keys, path
tricks in task ids, oversized cursors and resume ids.
"""

from __future__ import annotations

import gzip
import json
import uuid
import zlib
from typing import Any
from urllib.parse import quote

import grpc
import httpx
import pytest
import zstandard

from tests.adversarial._otlp import GrpcExporter, kv, post, request, wait_stored
from tests.adversarial.conftest import TOKEN_B, Hostile

_JSON = "application/json"


def _json_request(tid: str, body: dict[str, Any], attributes: list[Any] | None = None) -> bytes:
    record: dict[str, Any] = {"timeUnixNano": "1700000000000000001", "body": body}
    if attributes is not None:
        record["attributes"] = attributes
    return json.dumps(
        {
            "resourceLogs": [
                {
                    "resource": {
                        "attributes": [
                            {"key": "cicd.pipeline.task.run.id", "value": {"stringValue": tid}}
                        ]
                    },
                    "scopeLogs": [{"logRecords": [record]}],
                }
            ]
        }
    ).encode()


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"stringValue": "deep"}
    for _ in range(depth):
        value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    return value


@pytest.mark.parametrize("depth", [50, 10_000])
def test_deep_json_nesting_is_400(hostile: Hostile, depth: int) -> None:
    if depth <= 100:
        body = _json_request("deep", _nested(depth))
    else:  # beyond json.dumps' own recursion: written by hand, as an attacker would
        body = (
            b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":'
            + b'{"arrayValue":{"values":[' * depth
            + b"{}"
            + b"]}}" * depth
            + b"}]}]}]}"
        )
    r = post(hostile.http_url, body, content_type=_JSON)
    assert r.status_code == 400, r.text
    assert "nest" in r.json()["message"], r.text


def test_deep_protobuf_nesting_is_400_and_invalid_argument(hostile: Hostile) -> None:
    # Hand-built bytes: AnyValue.kvlist_value (6) > KeyValueList.values (1) > KeyValue.value
    # (2) > AnyValue ..., 200 levels, as the body of one record.
    inner = b""
    for _ in range(200):
        kv_msg = b"\x12" + _varint(len(inner)) + inner  # KeyValue.value
        kvl = b"\x0a" + _varint(len(kv_msg)) + kv_msg  # KeyValueList.values
        inner = b"\x32" + _varint(len(kvl)) + kvl  # AnyValue.kvlist_value
    record = b"\x2a" + _varint(len(inner)) + inner  # LogRecord.body (5)
    scope = b"\x12" + _varint(len(record)) + record  # ScopeLogs.log_records (2)
    rl = b"\x12" + _varint(len(scope)) + scope  # ResourceLogs.scope_logs (2)
    payload = b"\x0a" + _varint(len(rl)) + rl  # ExportLogsServiceRequest.resource_logs (1)
    r = post(hostile.http_url, payload)
    assert r.status_code == 400, r.status_code
    exporter = GrpcExporter(hostile.grpc_target)
    try:
        assert exporter.export(payload) == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        exporter.close()


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def test_100k_attributes_are_accepted_and_read_back(hostile: Hostile) -> None:
    tid = f"attrs-{uuid.uuid4().hex[:8]}"
    req = request(tid, ["many attributes"])
    record = req.resource_logs[0].scope_logs[0].log_records[0]
    record.attributes.extend(kv(f"k{i}", "v") for i in range(100_000))
    r = post(hostile.http_url, req.SerializeToString())
    assert r.status_code == 200, r.text
    attrs = [{"key": f"j{i}", "value": {"stringValue": "v"}} for i in range(100_000)]
    r = post(
        hostile.http_url,
        _json_request(tid + "-json", {"stringValue": "json"}, attrs),
        content_type=_JSON,
    )
    assert r.status_code == 200, r.text
    assert wait_stored(hostile.api_url, tid, 1) == 1
    page = httpx.get(
        f"{hostile.api_url}/api/v1/tasks/{tid}/logs",
        params={"attr": "k99999=v"},
        headers=hostile.headers(),
        timeout=60,
    )
    assert page.status_code == 200
    assert len(page.json()["records"][0]["log_attributes"]) >= 100_000


def test_10mb_line_is_stored_and_read_back(hostile: Hostile) -> None:
    tid = f"big-{uuid.uuid4().hex[:8]}"
    line = "x" * (10 * 1024 * 1024)
    exporter = GrpcExporter(hostile.grpc_target)
    try:
        assert exporter.export(request(tid, [line]).SerializeToString()) == grpc.StatusCode.OK
    finally:
        exporter.close()
    assert wait_stored(hostile.api_url, tid, 1, timeout=60) == 1
    r = httpx.get(
        f"{hostile.api_url}/api/v1/tasks/{tid}/logs",
        params={"include": "x{1000}$"},
        headers=hostile.headers(),
        timeout=60,
    )
    assert r.status_code == 200
    assert len(r.json()["records"][0]["body"]) == len(line)
    # Over the receiver's limit (16 MiB): a clear refusal, not a crash.
    huge = request(tid, ["y" * (17 * 1024 * 1024)]).SerializeToString()
    assert post(hostile.http_url, huge).status_code == 413


@pytest.mark.parametrize("encoding", ["gzip", "zstd", "deflate"])
def test_compression_bombs_are_413(hostile: Hostile, encoding: str) -> None:
    plain = b"\0" * (64 * 1024 * 1024)  # 64 MiB of zeros (4x the limit): ~64 KB compressed
    if encoding == "gzip":
        bomb = gzip.compress(plain, compresslevel=9)
    elif encoding == "zstd":
        bomb = zstandard.ZstdCompressor(level=3).compress(plain)
    else:
        bomb = zlib.compress(plain, 9)
    del plain
    assert len(bomb) < 2 * 1024 * 1024
    r = post(hostile.http_url, bomb, encoding=encoding)
    assert r.status_code == 413, r.text
    assert b"larger than" in r.content  # a google.rpc.Status, in protobuf


def test_many_gzip_members_are_bounded_too(hostile: Hostile) -> None:
    member = gzip.compress(b"\0" * (1024 * 1024))
    r = post(hostile.http_url, member * 40, encoding="gzip")  # 40 MiB in 40 members
    assert r.status_code == 413, r.text


_SQLISH = [
    "' OR 1=1 --",
    "'; DROP TABLE otel_logs; --",
    "\\' OR \\'1\\'=\\'1",
    "{include:String}",
    "%' OR '%'='",
    "$1",
    "Body) OR (1=1",
]


@pytest.mark.parametrize("evil", _SQLISH)
def test_sql_shaped_filters_are_plain_values(hostile: Hostile, evil: str) -> None:
    tid = f"sql-{uuid.uuid4().hex[:8]}"
    exporter = GrpcExporter(hostile.grpc_target)
    try:
        assert exporter.export(request(tid, ["kept"]).SerializeToString()) == grpc.StatusCode.OK
    finally:
        exporter.close()
    assert wait_stored(hostile.api_url, tid, 1) == 1
    base = f"{hostile.api_url}/api/v1/tasks/{tid}/logs"
    for params in (
        {"attr": f"{evil}=x"},
        {"attr": f"k={evil}"},
        {"text": evil},
        {"task_name": evil},
        {"min_severity": evil},
    ):
        r = httpx.get(base, params=params, headers=hostile.headers(), timeout=30)
        assert r.status_code in (200, 400), (params, r.text)
        if r.status_code == 200:
            assert r.json()["records"] == [], params
    # The table is still there and the line is still readable.
    r = httpx.get(base, headers=hostile.headers(), timeout=30)
    assert [x["body"] for x in r.json()["records"]] == ["kept"]
    # A task id shaped like SQL is just an id nobody has.
    r = httpx.get(
        f"{hostile.api_url}/api/v1/tasks/{quote(evil, safe='')}/logs",
        headers=hostile.headers(),
        timeout=30,
    )
    assert r.status_code in (200, 404), r.text
    if r.status_code == 200:
        assert r.json()["records"] == []


_TRICKY_IDS = [
    "..",
    "../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "a%2Fb",
    "%00",
    "a%00b",
    "x" * 10_000,
    "%E2%80%AE",  # right-to-left override
    "%FF%FE",  # not UTF-8
    "con",
]


@pytest.mark.parametrize("raw", _TRICKY_IDS)
def test_path_tricks_in_task_ids_are_4xx_or_empty(hostile: Hostile, raw: str) -> None:
    tid = raw if "%" in raw else quote(raw, safe="")
    with httpx.Client(timeout=30, headers=hostile.headers()) as c:
        for path in ("logs", "logs/download"):
            r = c.get(f"{hostile.api_url}/api/v1/tasks/{tid}/{path}")
            assert r.status_code < 500, (path, r.status_code, r.text[:200])
            if r.status_code == 200 and path == "logs":
                assert r.json()["records"] == []
            if path == "logs/download" and r.status_code == 200:
                disposition = r.headers["content-disposition"]
                assert "/" not in disposition.split("filename=")[1]
                assert "\\" not in disposition
        with c.stream("GET", f"{hostile.api_url}/api/v1/tasks/{tid}/logs/stream") as r:
            assert r.status_code < 500


def _status(c: httpx.Client, url: str, **kwargs: Any) -> int:
    """The status of a GET that may open an SSE stream (closed at once)."""
    with c.stream("GET", url, **kwargs) as r:
        return r.status_code


def test_oversized_cursors_and_resume_ids_are_400(hostile: Hostile) -> None:
    api = hostile.api_url
    with httpx.Client(timeout=30, headers=hostile.headers()) as c:
        for cursor in ("A" * 60_000, "tlc1." + "9" * 5000, "%00", "..", "-1", "9" * 30 + "-1"):
            r = c.get(f"{api}/api/v1/tasks/t/logs", params={"cursor": cursor})
            assert r.status_code == 400, (cursor[:20], r.text[:200])
            assert len(r.content) < 2000  # an oversized input is not echoed back
        for eid in ("9" * 5000, "9" * 30, "x" * 60_000, "s/" + "A" * 50_000, "1-1/" + "9" * 100):
            for path in ("tasks/t", "runs/r"):
                url = f"{api}/api/v1/{path}/logs/stream"
                status = _status(c, url, headers={"Last-Event-ID": eid})
                assert status == 400, (path, eid[:20], status)
        url = f"{api}/api/v1/tasks/t/logs/stream"
        assert _status(c, url, params={"after_seq": "9" * 40}) == 422


def test_another_tenants_token_sees_none_of_it(hostile: Hostile) -> None:
    tid = f"mine-{uuid.uuid4().hex[:8]}"
    exporter = GrpcExporter(hostile.grpc_target)
    try:
        assert exporter.export(request(tid, ["secret"]).SerializeToString()) == grpc.StatusCode.OK
    finally:
        exporter.close()
    assert wait_stored(hostile.api_url, tid, 1) == 1
    r = httpx.get(
        f"{hostile.api_url}/api/v1/tasks/{tid}/logs",
        headers=hostile.headers(TOKEN_B),
        params={"attr": "tasklogs.tenant=a"},
        timeout=30,
    )
    assert r.status_code in (200, 404)
    if r.status_code == 200:
        assert r.json()["records"] == []
