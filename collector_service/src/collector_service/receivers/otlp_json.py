"""OTLP/JSON logs requests straight into protobuf messages.

The protobuf library's generic JSON parser walks descriptors in Python and manages about
6,000 log records/s here: a 20 MiB JSON body would hold the event loop for seconds. This
converter knows the logs schema and builds the messages with keyword constructors,
an order of magnitude faster, and follows the OTLP rules (specification, "JSON Protobuf
Encoding"): ``traceId``/``spanId`` are hex, enums may be integers (or names), 64-bit
integers may be strings or numbers, ``bytesValue`` is base64, unknown fields are ignored.
Keys are lowerCamelCase; the original snake_case names are accepted too, as the
Collector does.

Nesting is bounded: an ``AnyValue`` may hold arrays and key/value lists at most
:data:`MAX_VALUE_DEPTH` levels deep, which keeps the message within protobuf's own
recursion limit (100 nested messages), so what is accepted here can be serialized and
parsed again by the writers; deeper input, and JSON too deep for the parser itself, is a
:class:`DecodeError` (HTTP 400), like a too deeply nested binary protobuf body.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable
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

__all__ = ["MAX_VALUE_DEPTH", "parse_json_request"]

_Obj = dict[str, Any]

#: Nested ``arrayValue``/``kvlistValue`` levels an ``AnyValue`` may have (a body or an
#: attribute value): 5 + 3 messages per level stays within protobuf's limit of 100.
MAX_VALUE_DEPTH = 30


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


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise DecodeError(f"{where}: expected true or false")
    return value


def _base64(value: Any, where: str) -> bytes:
    try:
        return base64.b64decode(_str(value, where), validate=True)
    except binascii.Error:
        raise DecodeError(f"{where}: not base64") from None


def _array(value: Any, where: str, depth: int) -> ArrayValue:
    values = _list(_obj(value, where).get("values"), where + ".values")
    return ArrayValue(values=[_any(x, where + "[]", depth) for x in values])


def _kvlist(value: Any, where: str, depth: int) -> KeyValueList:
    return KeyValueList(values=_attributes(_obj(value, where).get("values"), where, depth))


_Convert = Callable[[Any, str], Any]
_Nested = Callable[[Any, str, int], Any]

#: AnyValue JSON key -> (field, converter); the first known key of the object wins.
_ANY_KINDS: dict[str, tuple[str, _Convert]] = {}
for _camel, _field, _conv in (
    ("stringValue", "string_value", _str),
    ("boolValue", "bool_value", _bool),
    ("intValue", "int_value", _int),
    ("doubleValue", "double_value", _double),
    ("bytesValue", "bytes_value", _base64),
):
    _ANY_KINDS[_camel] = _ANY_KINDS[_field] = (_field, _conv)
#: The kinds that nest (and so count towards :data:`MAX_VALUE_DEPTH`).
_NESTED_KINDS: dict[str, tuple[str, _Nested]] = {}
for _camel, _field, _nest in (
    ("arrayValue", "array_value", _array),
    ("kvlistValue", "kvlist_value", _kvlist),
):
    _NESTED_KINDS[_camel] = _NESTED_KINDS[_field] = (_field, _nest)


def _any(value: Any, where: str, depth: int = 0) -> AnyValue:
    for key, item in _obj(value, where).items():
        if item is None:
            continue
        kind = _ANY_KINDS.get(key)
        if kind is not None:
            field, convert = kind
            return AnyValue(**{field: convert(item, f"{where}.{key}")})
        nested = _NESTED_KINDS.get(key)
        if nested is not None:
            if depth >= MAX_VALUE_DEPTH:
                raise DecodeError(f"{where}: values nested deeper than {MAX_VALUE_DEPTH} levels")
            field, nest = nested
            return AnyValue(**{field: nest(item, f"{where}.{key}", depth + 1)})
    return AnyValue()


def _attributes(items: Any, where: str, depth: int = 0) -> list[KeyValue]:
    out = []
    for item in _list(items, where + ".attributes"):
        kv = _obj(item, where + ".attributes[]")
        out.append(
            KeyValue(
                key=_str(kv.get("key"), where + ".key"),
                value=_any(kv.get("value"), where, depth),
            )
        )
    return out


def _severity(value: Any, where: str) -> SeverityNumber.ValueType:
    if isinstance(value, str) and value.startswith("SEVERITY_NUMBER_"):
        try:
            return cast("SeverityNumber.ValueType", SeverityNumber.Value(value))
        except ValueError:
            raise DecodeError(f"{where}: unknown severity {value!r}") from None
    return cast("SeverityNumber.ValueType", _int(value, where))


def _record_fields() -> dict[str, tuple[str, _Convert]]:
    fields: dict[str, tuple[str, _Convert]] = {}
    for camel, field, convert in (
        ("timeUnixNano", "time_unix_nano", _int),
        ("observedTimeUnixNano", "observed_time_unix_nano", _int),
        ("severityNumber", "severity_number", _severity),
        ("severityText", "severity_text", _str),
        ("body", "body", _any),
        ("attributes", "attributes", _attributes),
        ("droppedAttributesCount", "dropped_attributes_count", _int),
        ("flags", "flags", _int),
        ("traceId", "trace_id", _hex),
        ("spanId", "span_id", _hex),
        ("eventName", "event_name", _str),
    ):
        fields[camel] = fields[field] = (field, convert)
    return fields


#: LogRecord JSON key -> (field, converter): one dict lookup per key actually present.
_RECORD_FIELDS = _record_fields()


def _record(rec: _Obj) -> LogRecord:
    kwargs: dict[str, Any] = {}
    for key, value in rec.items():
        known = _RECORD_FIELDS.get(key)
        if known is not None and value is not None:
            field, convert = known
            kwargs[field] = convert(value, f"logRecords[].{key}")
    return LogRecord(**kwargs)


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
    except RecursionError:  # the C parser counts its depth and stops cleanly
        raise DecodeError("malformed JSON: nested too deeply") from None
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
