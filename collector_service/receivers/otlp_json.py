"""OTLP/JSON logs requests straight into protobuf messages.

The protobuf library's generic JSON parser walks descriptors in Python and manages about
6,000 log records/s here: a 20 MiB JSON body would hold the event loop for seconds. This
converter knows the logs schema and builds the messages with keyword constructors,
an order of magnitude faster, and follows the OTLP rules (specification, "JSON Protobuf
Encoding"): ``traceId``/``spanId`` are hex, enums may be integers (or names), 64-bit
integers may be strings or numbers, ``bytesValue`` is base64, unknown fields are ignored.
Keys are lowerCamelCase; the original snake_case names are accepted too, as the
Collector does.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any, cast

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

__all__ = ["parse_json_request"]

_Obj = dict[str, Any]


def _get(obj: _Obj, camel: str, snake: str) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _obj(value: Any, where: str) -> _Obj:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DecodeError(f"{where}: expected an object")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise DecodeError(f"{where}: expected an array")
    return value


def _int(value: Any, where: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise DecodeError(f"{where}: expected an integer or a decimal string")
    try:
        return int(value)
    except ValueError:
        raise DecodeError(f"{where}: not an integer: {value!r}") from None


def _str(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DecodeError(f"{where}: expected a string")
    return value


def _hex(value: Any, where: str) -> bytes:
    text = _str(value, where)
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise DecodeError(f"{where}: not a hex string: {text!r}") from None


def _double(value: Any, where: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if value in ("NaN", "Infinity", "-Infinity"):
        return float(value.replace("Infinity", "inf")) if value != "NaN" else math.nan
    raise DecodeError(f"{where}: expected a number")


def _any(value: Any, where: str) -> AnyValue:  # noqa: PLR0911 - one return per value kind
    v = _obj(value, where)
    if (s := _get(v, "stringValue", "string_value")) is not None:
        return AnyValue(string_value=_str(s, where))
    if (b := _get(v, "boolValue", "bool_value")) is not None:
        if not isinstance(b, bool):
            raise DecodeError(f"{where}.boolValue: expected true or false")
        return AnyValue(bool_value=b)
    if (i := _get(v, "intValue", "int_value")) is not None:
        return AnyValue(int_value=_int(i, where + ".intValue"))
    if (d := _get(v, "doubleValue", "double_value")) is not None:
        return AnyValue(double_value=_double(d, where + ".doubleValue"))
    if (a := _get(v, "arrayValue", "array_value")) is not None:
        values = _list(_obj(a, where).get("values"), where + ".arrayValue.values")
        return AnyValue(array_value=ArrayValue(values=[_any(x, where + "[]") for x in values]))
    if (kv := _get(v, "kvlistValue", "kvlist_value")) is not None:
        values = _list(_obj(kv, where).get("values"), where + ".kvlistValue.values")
        return AnyValue(kvlist_value=KeyValueList(values=_attributes(values, where)))
    if (raw := _get(v, "bytesValue", "bytes_value")) is not None:
        try:
            return AnyValue(bytes_value=base64.b64decode(_str(raw, where), validate=True))
        except binascii.Error:
            raise DecodeError(f"{where}.bytesValue: not base64") from None
    return AnyValue()


def _attributes(items: Any, where: str) -> list[KeyValue]:
    out = []
    for item in _list(items, where + ".attributes"):
        kv = _obj(item, where + ".attributes[]")
        out.append(
            KeyValue(key=_str(kv.get("key"), where + ".key"), value=_any(kv.get("value"), where))
        )
    return out


def _severity(value: Any, where: str) -> SeverityNumber.ValueType:
    if isinstance(value, str) and value.startswith("SEVERITY_NUMBER_"):
        try:
            return cast("SeverityNumber.ValueType", SeverityNumber.Value(value))
        except ValueError:
            raise DecodeError(f"{where}: unknown severity {value!r}") from None
    return cast("SeverityNumber.ValueType", _int(value, where + ".severityNumber"))


def _record(rec: _Obj) -> LogRecord:
    w = "logRecords[]"
    body = rec.get("body")
    return LogRecord(
        time_unix_nano=_int(_get(rec, "timeUnixNano", "time_unix_nano"), w + ".timeUnixNano"),
        observed_time_unix_nano=_int(
            _get(rec, "observedTimeUnixNano", "observed_time_unix_nano"), w + ".observedTime"
        ),
        severity_number=_severity(_get(rec, "severityNumber", "severity_number"), w),
        severity_text=_str(_get(rec, "severityText", "severity_text"), w + ".severityText"),
        body=_any(body, w + ".body") if body is not None else AnyValue(),
        attributes=_attributes(rec.get("attributes"), w),
        dropped_attributes_count=_int(
            _get(rec, "droppedAttributesCount", "dropped_attributes_count"), w
        ),
        flags=_int(rec.get("flags"), w + ".flags"),
        trace_id=_hex(_get(rec, "traceId", "trace_id"), w + ".traceId"),
        span_id=_hex(_get(rec, "spanId", "span_id"), w + ".spanId"),
        event_name=_str(_get(rec, "eventName", "event_name"), w + ".eventName"),
    )


def _scope_logs(sl: _Obj) -> ScopeLogs:
    scope = _obj(sl.get("scope"), "scope")
    records = _list(_get(sl, "logRecords", "log_records"), "logRecords")
    return ScopeLogs(
        scope=InstrumentationScope(
            name=_str(scope.get("name"), "scope.name"),
            version=_str(scope.get("version"), "scope.version"),
            attributes=_attributes(scope.get("attributes"), "scope"),
            dropped_attributes_count=_int(
                _get(scope, "droppedAttributesCount", "dropped_attributes_count"), "scope"
            ),
        ),
        log_records=[_record(_obj(r, "logRecords[]")) for r in records],
        schema_url=_str(_get(sl, "schemaUrl", "schema_url"), "scopeLogs[].schemaUrl"),
    )


def _resource_logs(rl: _Obj) -> ResourceLogs:
    res = _obj(rl.get("resource"), "resource")
    scopes = _list(_get(rl, "scopeLogs", "scope_logs"), "scopeLogs")
    return ResourceLogs(
        resource=Resource(
            attributes=_attributes(res.get("attributes"), "resource"),
            dropped_attributes_count=_int(
                _get(res, "droppedAttributesCount", "dropped_attributes_count"), "resource"
            ),
        ),
        scope_logs=[_scope_logs(_obj(s, "scopeLogs[]")) for s in scopes],
        schema_url=_str(_get(rl, "schemaUrl", "schema_url"), "resourceLogs[].schemaUrl"),
    )


def parse_json_request(body: bytes) -> ExportLogsServiceRequest:
    """Parse an OTLP/JSON logs request; raises :class:`DecodeError` when malformed."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DecodeError(f"malformed JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise DecodeError("malformed ExportLogsServiceRequest: the JSON body must be an object")
    try:
        resource_logs = _list(_get(doc, "resourceLogs", "resource_logs"), "resourceLogs")
        return ExportLogsServiceRequest(
            resource_logs=[_resource_logs(_obj(r, "resourceLogs[]")) for r in resource_logs]
        )
    except DecodeError as exc:
        raise DecodeError(f"malformed ExportLogsServiceRequest: {exc}") from exc
    except (ValueError, TypeError, OverflowError) as exc:  # out-of-range integers and the like
        raise DecodeError(f"malformed ExportLogsServiceRequest: {exc}") from exc
