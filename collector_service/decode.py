"""OTLP ``ExportLogsServiceRequest`` to a column-wise :class:`LogBatch`.

The decoder walks resources, scopes and records once and appends straight into the column
lists. Resource and scope attributes are converted once per resource / scope and shared
by reference. Values follow the contrib ClickHouse exporter: attribute values become
strings (arrays and maps as JSON), an empty record timestamp falls back to the observed
timestamp, trace and span ids are lower-case hex or empty.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from google.protobuf.message import DecodeError as _ProtobufDecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from collector_service.errors import DecodeError
from collector_service.model import LogBatch
from collector_service.semconv import SERVICE_NAME, TENANT

__all__ = [
    "any_value_to_python",
    "any_value_to_str",
    "count_records",
    "decode_request",
    "parse_request",
]


def parse_request(payload: bytes) -> ExportLogsServiceRequest:
    """Parse a binary OTLP logs request; raises :class:`DecodeError` on malformed bytes."""
    try:
        request: ExportLogsServiceRequest = ExportLogsServiceRequest.FromString(payload)
    except (_ProtobufDecodeError, ValueError) as exc:
        raise DecodeError(f"malformed ExportLogsServiceRequest: {exc}") from exc
    return request


def any_value_to_python(value: AnyValue) -> Any:
    """An OTLP ``AnyValue`` as the plain Python value (for JSON output)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value_to_python(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value_to_python(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def any_value_to_str(value: AnyValue) -> str:
    """An OTLP ``AnyValue`` as the string stored in a ``Map(String, String)`` or ``Body``."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind is None:
        return ""
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind in ("int_value", "double_value"):
        return str(getattr(value, kind))
    return json.dumps(any_value_to_python(value), separators=(",", ":"), ensure_ascii=False)


def _attributes(kvs: Iterable[KeyValue]) -> dict[str, str]:
    out: dict[str, str] = {}
    for kv in kvs:
        v = kv.value
        out[kv.key] = (
            v.string_value if v.WhichOneof("value") == "string_value" else (any_value_to_str(v))
        )
    return out


def decode_request(
    request: ExportLogsServiceRequest, batch: LogBatch | None = None, tenant: str | None = None
) -> LogBatch:
    """Append every record of ``request`` to ``batch`` (a new one by default) and return it.

    ``tenant`` (from the request's bearer token) is stamped on every resource as
    ``tasklogs.tenant``, replacing whatever the producer sent.
    """
    out = batch if batch is not None else LogBatch()
    ts, trace_id, span_id, flags = out.timestamp, out.trace_id, out.span_id, out.trace_flags
    sev_text, sev_num, service, body = (
        out.severity_text,
        out.severity_number,
        out.service_name,
        out.body,
    )
    res_url, res_attrs, scope_url = (
        out.resource_schema_url,
        out.resource_attributes,
        out.scope_schema_url,
    )
    scope_name, scope_version, scope_attrs = out.scope_name, out.scope_version, out.scope_attributes
    log_attrs, event_name = out.log_attributes, out.event_name
    for rl in request.resource_logs:
        r_attrs = _attributes(rl.resource.attributes)
        if tenant is not None:
            r_attrs[TENANT] = tenant
        r_service = r_attrs.get(SERVICE_NAME, "")
        r_url = rl.schema_url
        for sl in rl.scope_logs:
            s_attrs = _attributes(sl.scope.attributes)
            s_name, s_version, s_url = sl.scope.name, sl.scope.version, sl.schema_url
            for rec in sl.log_records:
                ts.append(rec.time_unix_nano or rec.observed_time_unix_nano)
                trace_id.append(rec.trace_id.hex())
                span_id.append(rec.span_id.hex())
                flags.append(rec.flags & 0xFF)
                sev_text.append(rec.severity_text)
                sev_num.append(rec.severity_number)
                service.append(r_service)
                b = rec.body
                body.append(
                    b.string_value
                    if b.WhichOneof("value") == "string_value"
                    else (any_value_to_str(b))
                )
                res_url.append(r_url)
                res_attrs.append(r_attrs)
                scope_url.append(s_url)
                scope_name.append(s_name)
                scope_version.append(s_version)
                scope_attrs.append(s_attrs)
                log_attrs.append(_attributes(rec.attributes))
                event_name.append(rec.event_name)
    return out


def count_records(request: ExportLogsServiceRequest) -> int:
    """Number of log records in a request (no per-record work beyond ``len``)."""
    return sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)
