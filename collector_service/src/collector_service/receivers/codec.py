"""OTLP bodies in and out: responses in OTLP/JSON, and bounded decompression.

(Requests in OTLP/JSON are parsed by :mod:`collector_service.receivers.otlp_json`.)

Decompression never produces more than the configured limit: a body that would inflate
past it is refused as too large (no zip bombs), whatever its compressed size.
"""

from __future__ import annotations

import io
import zlib

import zstandard
from google.protobuf import json_format
from google.protobuf.message import Message

from collector_service.errors import DecodeError, RequestTooLargeError

__all__ = ["ENCODINGS", "decompress", "to_json"]

#: Content-Encoding values the HTTP receiver accepts.
ENCODINGS = ("gzip", "zstd", "deflate", "identity")


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
