"""Fuzzing the OTLP decoders: the decode functions, then the real HTTP and gRPC entry points.

Whatever the bytes, a decoder returns a request or raises ``DecodeError`` /
``RequestTooLargeError``; a receiver answers 200 (maybe with ``partialSuccess``), 400,
413 or 415 over HTTP and OK or ``INVALID_ARGUMENT`` over gRPC: never a 5xx or ``INTERNAL``.
"""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

import grpc
import httpx
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from collector_service.component.decode import parse_request
from collector_service.errors import DecodeError, RequestTooLargeError
from collector_service.receivers.codec import decompress
from collector_service.receivers.otlp_json import parse_json_request
from tests.adversarial._otlp import GrpcExporter, request
from tests.adversarial.conftest import Hostile

VALID = request("fuzz-task", ["hello", "world"]).SerializeToString()

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=30,
)
_KEYS = [
    "resourceLogs", "resource", "attributes", "scopeLogs", "scope", "logRecords", "body",
    "stringValue", "intValue", "doubleValue", "boolValue", "bytesValue", "arrayValue",
    "kvlistValue", "values", "key", "value", "timeUnixNano", "severityNumber", "traceId",
    "spanId", "flags", "eventName", "droppedAttributesCount", "schemaUrl", "name", "version",
]  # fmt: skip
#: JSON that looks like OTLP: the keys the converter knows, with arbitrary values.
otlp_like = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_KEYS), inner),
    max_leaves=40,
)


def _mutations(data: bytes) -> st.SearchStrategy[bytes]:
    """``data`` with a few bytes changed, cut short or extended."""

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 6))):
            i = draw(st.integers(0, max(0, len(out) - 1)))
            op = draw(st.sampled_from(["flip", "cut", "insert"]))
            if op == "flip" and out:
                out[i] ^= draw(st.integers(1, 255))
            elif op == "cut":
                del out[i:]
            else:
                out[i:i] = draw(st.binary(min_size=1, max_size=8))
        return bytes(out)

    return mutate()


def _parsed_or_decode_error(fn: Any, body: bytes) -> None:
    try:
        message = fn(body)
    except DecodeError:
        return
    # Whatever was accepted can be serialized and parsed again by the writers.
    assert parse_request(message.SerializeToString()) == message


@given(st.binary(max_size=512) | _mutations(VALID))
def test_protobuf_decoder_raises_only_decode_error(body: bytes) -> None:
    _parsed_or_decode_error(parse_request, body)


@given(st.binary(max_size=256) | json_values.map(lambda v: json.dumps(v).encode()))
def test_json_decoder_raises_only_decode_error(body: bytes) -> None:
    _parsed_or_decode_error(parse_json_request, body)


@given(otlp_like)
def test_json_decoder_on_otlp_shaped_documents(doc: Any) -> None:
    _parsed_or_decode_error(parse_json_request, json.dumps({"resourceLogs": [doc]}).encode())


@given(
    st.binary(max_size=256)
    | _mutations(gzip.compress(VALID))
    | _mutations(zstandard.compress(VALID))
    | _mutations(zlib.compress(VALID)),
    st.sampled_from(["gzip", "zstd", "deflate", "identity", "br", ""]),
    st.integers(0, 4096),
)
def test_decompress_is_bounded_and_raises_only_its_errors(
    body: bytes, encoding: str, limit: int
) -> None:
    try:
        out = decompress(body, encoding, limit)
    except (DecodeError, RequestTooLargeError):
        return
    assert len(out) <= limit


_CTYPES = ["application/x-protobuf", "application/json", "text/plain", "", "application/json; x"]


@given(
    st.binary(max_size=512)
    | _mutations(VALID)
    | json_values.map(lambda v: json.dumps(v).encode())
    | otlp_like.map(lambda v: json.dumps({"resourceLogs": [v]}).encode()),
    st.sampled_from(_CTYPES),
    st.sampled_from([None, "gzip", "zstd", "deflate", "identity", "br"]),
    st.booleans(),
)
def test_http_receiver_never_answers_5xx(
    hostile: Hostile, body: bytes, ctype: str, encoding: str | None, compress: bool
) -> None:
    if compress and encoding == "gzip":
        body = gzip.compress(body)
    elif compress and encoding == "zstd":
        body = zstandard.compress(body)
    headers = {"Content-Type": ctype, **hostile.headers()}
    if encoding:
        headers["Content-Encoding"] = encoding
    r = httpx.post(hostile.http_url, content=body, headers=headers, timeout=60)
    assert r.status_code in (200, 400, 413, 415), (r.status_code, r.content[:200])


@pytest.fixture(scope="module")
def grpc_exporter(hostile: Hostile) -> Any:
    exporter = GrpcExporter(hostile.grpc_target)
    yield exporter
    exporter.close()


@given(st.binary(max_size=512) | _mutations(VALID))
def test_grpc_receiver_answers_ok_or_invalid_argument(
    grpc_exporter: GrpcExporter, body: bytes
) -> None:
    code = grpc_exporter.export(body)
    assert code in (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT), code


def _kvlist_depth(depth: int) -> bytes:
    value: dict[str, Any] = {"stringValue": "x"}
    for _ in range(depth):
        value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    record = {"body": value, "attributes": [{"key": "a", "value": value}]}
    scope = {"scope": {"attributes": [{"key": "a", "value": value}]}, "logRecords": [record]}
    resource = {"attributes": [{"key": "a", "value": value}]}
    return json.dumps({"resourceLogs": [{"resource": resource, "scopeLogs": [scope]}]}).encode()


def test_json_depth_limit_keeps_messages_parseable() -> None:
    from collector_service.receivers.otlp_json import MAX_VALUE_DEPTH

    message = parse_json_request(_kvlist_depth(MAX_VALUE_DEPTH))
    assert parse_request(message.SerializeToString()) == message
    with pytest.raises(DecodeError, match=f"nested deeper than {MAX_VALUE_DEPTH} levels"):
        parse_json_request(_kvlist_depth(MAX_VALUE_DEPTH + 1))
    with pytest.raises(DecodeError, match="nested too deeply"):
        parse_json_request(b'{"resourceLogs":' + b"[" * 100_000 + b"]" * 100_000 + b"}")


@pytest.mark.slow
@settings(max_examples=20_000)
@given(
    st.binary(max_size=4096) | _mutations(VALID) | otlp_like.map(lambda v: json.dumps(v).encode())
)
def test_decoders_long_fuzz(body: bytes) -> None:
    """A long fuzzing run of both decoders (``-m slow``)."""
    _parsed_or_decode_error(parse_request, body)
    _parsed_or_decode_error(parse_json_request, body)
