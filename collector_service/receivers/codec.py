"""OTLP bodies in and out: protobuf and JSON encodings, and bounded decompression.

OTLP/JSON is the protobuf JSON mapping with three OTLP rules on top (specification,
"JSON Protobuf Encoding"): ``traceId`` and ``spanId`` are hex strings, not base64; enum
values are integers; unknown fields are ignored. 64-bit integers may be strings or
numbers, which the protobuf JSON parser accepts either way. Names must be lowerCamelCase;
the parser also takes the original snake_case names, which is harmless leniency.

Decompression never produces more than the configured limit: a body that would inflate
past it is refused as too large (no zip bombs), whatever its compressed size.
"""

from __future__ import annotations

import base64
import io
import json
import zlib
from typing import Any

import zstandard
from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from collector_service.errors import DecodeError, RequestTooLargeError

__all__ = ["ENCODINGS", "decompress", "parse_json_request", "to_json"]

#: Content-Encoding values the HTTP receiver accepts.
ENCODINGS = ("gzip", "zstd", "deflate", "identity")


def _hex_ids_to_base64(record: dict[str, Any]) -> None:
    for key in ("traceId", "spanId", "trace_id", "span_id"):
        value = record.get(key)
        if isinstance(value, str) and value:
            try:
                raw = bytes.fromhex(value)
            except ValueError as exc:
                raise DecodeError(f"logRecords[].{key}: not a hex string: {value!r}") from exc
            record[key] = base64.b64encode(raw).decode("ascii")


def _list(node: dict[str, Any], *names: str) -> list[Any]:
    for name in names:
        value = node.get(name)
        if isinstance(value, list):
            return value
    return []


def parse_json_request(body: bytes) -> ExportLogsServiceRequest:
    """Parse an OTLP/JSON logs request; raises :class:`DecodeError` when malformed."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DecodeError(f"malformed JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise DecodeError("malformed ExportLogsServiceRequest: the JSON body must be an object")
    for rl in _list(doc, "resourceLogs", "resource_logs"):
        if not isinstance(rl, dict):
            continue
        for sl in _list(rl, "scopeLogs", "scope_logs"):
            if not isinstance(sl, dict):
                continue
            for rec in _list(sl, "logRecords", "log_records"):
                if isinstance(rec, dict):
                    _hex_ids_to_base64(rec)
    request = ExportLogsServiceRequest()
    try:
        json_format.ParseDict(doc, request, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError) as exc:
        raise DecodeError(f"malformed ExportLogsServiceRequest: {exc}") from exc
    return request


def to_json(message: Message) -> bytes:
    """A protobuf message (response, ``google.rpc.Status``) in the OTLP JSON encoding."""
    text: str = json_format.MessageToJson(message, indent=None)
    return text.encode("utf-8")


def _gunzip(body: bytes, limit: int) -> bytes:
    out = bytearray()
    data = body
    while data:
        inflater = zlib.decompressobj(wbits=47)  # gzip or zlib header, auto-detected
        try:
            out += inflater.decompress(data, limit + 1 - len(out))
        except zlib.error as exc:
            raise DecodeError(f"malformed gzip body: {exc}") from exc
        if len(out) > limit or inflater.unconsumed_tail:
            raise RequestTooLargeError(f"decompressed body is larger than {limit} bytes")
        if not inflater.eof:
            raise DecodeError("malformed gzip body: truncated")
        data = inflater.unused_data  # a further gzip member, as gzip(1) may write
    return bytes(out)


def _unzstd(body: bytes, limit: int) -> bytes:
    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(body), read_across_frames=True)
    try:
        out = reader.read(limit + 1)
    except zstandard.ZstdError as exc:
        raise DecodeError(f"malformed zstd body: {exc}") from exc
    if len(out) > limit:
        raise RequestTooLargeError(f"decompressed body is larger than {limit} bytes")
    return out


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """``body`` decoded per its ``Content-Encoding``, never more than ``limit`` bytes.

    Raises :class:`RequestTooLargeError` past the limit and :class:`DecodeError` for a
    corrupt body or an encoding that is not one of :data:`ENCODINGS`.
    """
    coding = (encoding or "identity").strip().lower()
    if coding == "identity":
        result = body
    elif coding in ("gzip", "deflate"):  # deflate is zlib-wrapped in HTTP
        result = _gunzip(body, limit)
    elif coding == "zstd":
        result = _unzstd(body, limit)
    else:
        raise DecodeError(f"unsupported Content-Encoding {encoding!r}: use gzip, zstd or deflate")
    if len(result) > limit:
        raise RequestTooLargeError(f"body is larger than {limit} bytes")
    return result
