"""OTLP ``ExportLogsServiceRequest`` to a column-wise :class:`LogBatch`.

The decoder walks resources, scopes and records once and appends straight into the column
lists. Resource and scope attributes are converted once per resource / scope and shared
by reference. Values follow the contrib ClickHouse exporter: attribute values become
strings (arrays and maps as JSON), an empty record timestamp falls back to the observed
timestamp, trace and span ids are lower-case hex or empty.

Where the contrib exporter's conversion breaks, OTLP/JSON (the protobuf JSON mapping)
decides: bytes are standard base64 (plain at the top level, a JSON string inside an
array or map); a double that is NaN or infinite is ``NaN`` / ``Infinity`` /
``-Infinity`` (a JSON string inside an array or map), so the stored JSON is always valid.

A resource without a task identity gets one derived from it
(:mod:`collector_service.component.identity`). The observed timestamp and the
dropped-attribute counts (record, resource, scope) are kept in columns of their own.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Iterable
from itertools import repeat
from typing import Any

from google.protobuf.message import DecodeError as _ProtobufDecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from collector_service.component.identity import fill_identity
from collector_service.component.model import LogBatch
from collector_service.errors import DecodeError
from otel_sdk_ext.semconv import SERVICE_NAME, TENANT

__all__ = [
    "any_value_to_python",
    "any_value_to_str",
    "count_records",
    "decode_request",
    "double_to_str",
    "parse_request",
]


def parse_request(payload: bytes) -> ExportLogsServiceRequest:
    """Parse a binary OTLP logs request; raises :class:`DecodeError` on malformed bytes."""
    try:
        request: ExportLogsServiceRequest = ExportLogsServiceRequest.FromString(payload)
    except (_ProtobufDecodeError, ValueError) as exc:
        raise DecodeError(f"malformed ExportLogsServiceRequest: {exc}") from exc
    return request


#: Non-finite doubles as the protobuf JSON mapping (OTLP/JSON) spells them.
_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def double_to_str(value: float) -> str:
    """A double as stored: Python's shortest round-trip form; ``NaN``, ``Infinity``,
    ``-Infinity`` for the non-finite ones (as OTLP/JSON writes them)."""
    text = repr(value)
    return _NON_FINITE.get(text, text)


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def any_value_to_python(value: AnyValue) -> Any:
    """An OTLP ``AnyValue`` as the plain Python value for JSON output (always valid JSON:
    bytes become base64 strings, non-finite doubles the strings ``NaN``/``Infinity``)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value_to_python(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value_to_python(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return _base64(value.bytes_value)
    if kind == "double_value":
        d = value.double_value
        return d if math.isfinite(d) else double_to_str(d)
    return getattr(value, kind)


def any_value_to_str(value: AnyValue) -> str:
    """An OTLP ``AnyValue`` as the string stored in a ``Map(String, String)`` or ``Body``."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind is None:
        return ""
    scalar = _SCALARS.get(kind)
    if scalar is not None:
        return scalar(value)
    return json.dumps(
        any_value_to_python(value), separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


#: How each scalar kind becomes the stored string (the contrib exporter's ``AsString``,
#: with OTLP/JSON's spelling of non-finite doubles).
_SCALARS: dict[str, Callable[[AnyValue], str]] = {
    "bool_value": lambda v: "true" if v.bool_value else "false",
    "int_value": lambda v: str(v.int_value),
    "double_value": lambda v: double_to_str(v.double_value),
    "bytes_value": lambda v: _base64(v.bytes_value),
}


def _value_str(value: AnyValue) -> str:
    """Slow path of :func:`_attributes`: a value that is not a non-empty string."""
    kind = value.WhichOneof("value")
    if kind == "int_value":
        return str(value.int_value)
    return any_value_to_str(value)


def _attributes(kvs: Iterable[KeyValue]) -> dict[str, str]:
    # The common cases without a WhichOneof call: a non-empty string, or a non-zero int
    # (tasklogs.seq). In a oneof, unset members read as their zero value, so a non-zero
    # int_value means the int is the one set. Everything else takes the slow path.
    out: dict[str, str] = {}
    for kv in kvs:
        v = kv.value
        out[kv.key] = v.string_value or (str(i) if (i := v.int_value) else _value_str(v))
    return out


def _hex(ids: tuple[bytes, ...]) -> list[str]:
    # Task logs mostly carry no trace context: skip the per-record hex() when none does.
    return [b.hex() if b else "" for b in ids] if any(ids) else [""] * len(ids)


def decode_request(
    request: ExportLogsServiceRequest, batch: LogBatch | None = None, tenant: str | None = None
) -> LogBatch:
    """Append every record of ``request`` to ``batch`` (a new one by default) and return it.

    ``tenant`` (from the request's bearer token) is stamped on every resource as
    ``tasklogs.tenant``, replacing whatever the producer sent.

    Column-wise, with as little Python per record as the upb messages allow: one pass
    over a scope's records reads every field into a tuple, ``zip(*...)`` transposes them
    into columns in C, fix-ups (observed timestamps, non-string bodies, trace ids) run
    only when some record needs them, and the columns that are constant within a
    resource or scope are ``repeat``-ed (see bench/clickhouse_insert.py).
    """
    out = batch if batch is not None else LogBatch()
    for rl in request.resource_logs:
        r_attrs = _attributes(rl.resource.attributes)
        if tenant is not None:
            r_attrs[TENANT] = tenant
        fill_identity(r_attrs)
        r_service = r_attrs.get(SERVICE_NAME, "")
        r_url = rl.schema_url
        r_dropped = rl.resource.dropped_attributes_count
        for sl in rl.scope_logs:
            recs = sl.log_records
            n = len(recs)
            if not n:
                continue
            (ts, observed, trace, span, flags, sev_text, sev_num, body, attrs, event, dropped) = (
                zip(
                    *[
                        (
                            r.time_unix_nano,
                            r.observed_time_unix_nano,
                            r.trace_id,
                            r.span_id,
                            r.flags,
                            r.severity_text,
                            r.severity_number,
                            r.body.string_value,
                            _attributes(r.attributes),
                            r.event_name,
                            r.dropped_attributes_count,
                        )
                        for r in recs
                    ],
                    strict=True,
                )
            )
            scope = sl.scope
            s_attrs = _attributes(scope.attributes)
            out.timestamp.extend(
                ts if all(ts) else [t or o for t, o in zip(ts, observed, strict=True)]
            )
            out.trace_id.extend(_hex(trace))
            out.span_id.extend(_hex(span))
            out.trace_flags.extend(flags if max(flags) <= 0xFF else [f & 0xFF for f in flags])
            out.severity_text.extend(sev_text)
            out.severity_number.extend(sev_num)
            out.service_name.extend(repeat(r_service, n))
            start = len(out.body)
            out.body.extend(body)
            if not all(body):  # empty, or not a string: the exact conversion
                for i in [i for i, b in enumerate(body) if not b]:
                    out.body[start + i] = any_value_to_str(recs[i].body)
            out.resource_schema_url.extend(repeat(r_url, n))
            out.resource_attributes.extend(repeat(r_attrs, n))
            out.scope_schema_url.extend(repeat(sl.schema_url, n))
            out.scope_name.extend(repeat(scope.name, n))
            out.scope_version.extend(repeat(scope.version, n))
            out.scope_attributes.extend(repeat(s_attrs, n))
            out.log_attributes.extend(attrs)
            out.event_name.extend(event)
            _extend_optional(out, start, n)
            out.observed_timestamp.extend(observed)
            out.dropped_attributes_count.extend(dropped)
            out.resource_dropped_attributes_count.extend(repeat(r_dropped, n))
            out.scope_dropped_attributes_count.extend(repeat(scope.dropped_attributes_count, n))
    return out


def _extend_optional(out: LogBatch, start: int, n: int) -> None:
    """Pad the optional columns of a batch built elsewhere that left them empty."""
    if len(out.observed_timestamp) != start:
        for col in (
            out.observed_timestamp,
            out.dropped_attributes_count,
            out.resource_dropped_attributes_count,
            out.scope_dropped_attributes_count,
        ):
            col.extend([0] * (start - len(col)))


def count_records(request: ExportLogsServiceRequest) -> int:
    """Number of log records in a request (no per-record work beyond ``len``)."""
    return sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)
