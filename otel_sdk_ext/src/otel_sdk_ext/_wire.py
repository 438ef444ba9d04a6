"""OTLP protobuf wire encoding of raw log entries, in bulk, without message objects.

The export thread turns a batch of :data:`Entry` tuples (what the task thread captured)
into the bytes of one ``ExportLogsServiceRequest``: one ResourceLogs (the resource
encoded once per pipeline), one ScopeLogs per scope name, a LogRecord per entry. Field
numbers are those of ``opentelemetry/proto/logs/v1/logs.proto``; the result parses to
the same message the stock encoder (``encode_logs``) builds from the same records.
Records the SDK itself made (odd attribute values it cleaned) are encoded by the stock
encoder and get ``tasklogs.seq`` appended (repeated fields concatenate on the wire).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, Final

from opentelemetry import context as _otel_context
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.context import Context, get_current
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.exporter.otlp.proto.common._internal import _encode_resource
from opentelemetry.exporter.otlp.proto.common._internal._log_encoder import _encode_log
from opentelemetry.sdk._logs import LogRecordLimits, ReadableLogRecord
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import get_current_span

from otel_sdk_ext import semconv

__all__ = ["Entry", "RequestEncoder", "SdkRecords", "current_context", "varint"]

#: What the task thread captures per line: (scope name, time (int ns, or float seconds
#: as ``logging.LogRecord.created``), observed time ns, severity number, severity text,
#: body, attributes (plain values; never changed once queued) or None, context or None,
#: event name or None). A ReadableLogRecord (made by the SDK) may stand in its place.
Entry = tuple[
    str, int | float, int, int, str, str, Mapping[str, Any] | None, Context | None, str | None
]


def _context_getter() -> Callable[[], Context]:
    """``opentelemetry.context.get_current`` without its two Python-level calls, when
    the runtime context is the default contextvars one (``OTEL_PYTHON_CONTEXT`` unset):
    the entry's context is taken on the task thread for every line."""
    runtime = getattr(_otel_context, "_RUNTIME_CONTEXT", None)
    var = getattr(runtime, "_current_context", None)
    if runtime.__class__ is ContextVarsRuntimeContext and isinstance(var, ContextVar):
        getter: Callable[[], Context] = var.get
        return getter
    return get_current


#: The current OTel context (what ``get_current()`` returns).
current_context: Final = _context_getter()

_DOUBLE: Final = struct.Struct("<d").pack
_TIMES: Final = struct.Struct("<BQBQ").pack  # time_unix_nano (1), observed (11)
_SMALL: Final = [bytes([i]) for i in range(128)]


def varint(n: int) -> bytes:
    """Protobuf base-128 varint (negative ints as their 64-bit two's complement)."""
    if n < 0x80:
        if n >= 0:
            return _SMALL[n]
        n &= 0xFFFFFFFFFFFFFFFF
    elif n < 0x4000:
        return bytes((n & 0x7F | 0x80, n >> 7))
    elif n < 0x200000:
        return bytes((n & 0x7F | 0x80, n >> 7 & 0x7F | 0x80, n >> 14))
    elif n < 0x10000000:
        return bytes((n & 0x7F | 0x80, n >> 7 & 0x7F | 0x80, n >> 14 & 0x7F | 0x80, n >> 21))
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return _SMALL[tag] + varint(len(payload)) + payload


def _string(tag: int, text: str) -> bytes:
    return _field(tag, text.encode("utf-8", "surrogatepass"))


def _any_value(value: Any) -> bytes | None:
    """AnyValue of a plain value; None for anything else."""
    cls = value.__class__
    if cls is str:
        return _string(0x0A, value)  # string_value = 1
    if cls is bool:
        return b"\x10\x01" if value else b"\x10\x00"  # bool_value = 2
    if cls is int:
        return b"\x18" + varint(value)  # int_value = 3
    if cls is float:
        return b"\x21" + _DOUBLE(value)  # double_value = 4
    return None


def _attribute(key: str, value: Any) -> bytes:
    """A LogRecord ``attributes`` (6) field: KeyValue{key=1, value=2}."""
    encoded = _any_value(value)
    if encoded is None:  # callers route non-plain values through the SDK
        encoded = _string(0x0A, str(value))
    return _field(0x32, _string(0x0A, key) + _field(0x12, encoded))


_SEQ_KEY: Final = _string(0x0A, semconv.SEQ)
#: attributes (6) { key = "tasklogs.seq", value (2) { int_value (3) = ... } } up to the
#: varint, per varint length.
_SEQ_PREFIX: Final = [
    b"\x32" + _SMALL[len(_SEQ_KEY) + 3 + k] + _SEQ_KEY + b"\x12" + _SMALL[1 + k] + b"\x18"
    for k in range(11)
]
#: What the attribute cache gives an entry without attributes: (its None, no bytes).
_NO_ATTRIBUTES: Final[tuple[Mapping[str, Any] | None, bytes]] = (None, b"")
#: body (5) { string_value (1) = ... } up to the text, per (short) text length.
_BODY_PREFIX: Final = [b"\x2a" + _SMALL[n + 2] + b"\x0a" + _SMALL[n] for n in range(126)]


def _seq_attribute(seq: int) -> bytes:
    value = varint(seq)
    return _SEQ_PREFIX[len(value)] + value


class RequestEncoder:
    """Encodes batches for one resource; keeps per-scope and per-severity bytes."""

    def __init__(self, resource: Resource) -> None:
        self._resource = _field(0x0A, _encode_resource(resource).SerializeToString())
        self._resource_schema = _string(0x1A, resource.schema_url) if resource.schema_url else b""
        self._scopes: dict[str, bytes] = {}
        self._severity: dict[tuple[int, str], bytes] = {}
        self._attrs_cache: dict[int, tuple[Mapping[str, Any], bytes]] = {}

    def encode(self, entries: Sequence[Entry | ReadableLogRecord], first_seq: int) -> bytes:
        """The ExportLogsServiceRequest for ``entries``, numbered from ``first_seq``."""
        groups: dict[str, list[bytes]] = {}
        last_scope: str | None = None
        group: list[bytes] = []
        severities = self._severity
        attrs_cache = self._attrs_cache
        times, small, seq_prefix, body_prefix = _TIMES, _SMALL, _SEQ_PREFIX, _BODY_PREFIX
        join = b"".join
        seq = first_seq
        item: Any
        for item in entries:
            if item.__class__ is tuple:
                scope, when, observed, severity, severity_text, body, attrs, ctx, event = item
                if when.__class__ is float:
                    when = int(when * 1e9)
                sev = severities.get((severity, severity_text))
                if sev is None:
                    sev = self._severity_bytes(severity, severity_text)
                data = body.encode("utf-8", "surrogatepass")
                n = len(data)
                # Shared constant dicts (the stream's log.iostream) are encoded once.
                cached = attrs_cache.get(id(attrs)) if attrs else _NO_ATTRIBUTES
                if cached is None or cached[0] is not attrs:
                    cached = (attrs, self._attributes(attrs))
                # body (5) { string_value (1) = data }
                body_head = body_prefix[n] if n < 126 else b""
                data = data if n < 126 else _field(0x2A, _field(0x0A, data))
                value = varint(seq)
                parts = [
                    times(0x09, when, 0x59, observed or when),
                    sev,
                    body_head,
                    data,
                    cached[1],
                    seq_prefix[len(value)],
                    value,
                ]
                if ctx:
                    parts.append(_trace_fields(ctx))
                if event:
                    parts.append(_string(0x62, event))  # event_name = 12
                record = join(parts)
                size = len(record)
                header = b"\x12" + (small[size] if size < 0x80 else varint(size))
            else:
                scope, header, record = self._sdk_record(item, seq)
            if scope != last_scope:
                last_scope = scope
                found = groups.get(scope)
                group = groups[scope] = [] if found is None else found
            group.append(header)
            group.append(record)
            seq += 1
        scope_logs = [self._scope(name) + b"".join(recs) for name, recs in groups.items()]
        resource_logs = self._resource + b"".join(_field(0x12, s) for s in scope_logs)
        return _field(0x0A, resource_logs + self._resource_schema)

    def _severity_bytes(self, severity: int, severity_text: str) -> bytes:
        encoded = self._severity[(severity, severity_text)] = (
            b"\x10" + varint(severity) if severity else b""
        ) + (_string(0x1A, severity_text) if severity_text else b"")
        return encoded

    def _scope(self, name: str) -> bytes:
        """ScopeLogs' ``scope`` (1) field, cached per name (log_records follow)."""
        encoded = self._scopes.get(name)
        if encoded is None:
            encoded = self._scopes[name] = _field(0x0A, _string(0x0A, name) if name else b"")
        return encoded

    def _attributes(self, attrs: Mapping[str, Any]) -> bytes:
        # Shared constant dicts (the stream's log.iostream) are encoded once.
        cached = self._attrs_cache.get(id(attrs))
        if cached is not None and cached[0] is attrs:
            return cached[1]
        encoded = b"".join(_attribute(k, v) for k, v in attrs.items())
        if len(attrs) == 1 and len(self._attrs_cache) < 64:
            self._attrs_cache[id(attrs)] = (attrs, encoded)
        return encoded

    def _sdk_record(self, record: ReadableLogRecord, seq: int) -> tuple[str, bytes, bytes]:
        """Scope name, and the tag and length, then the content, of its log_records (2)."""
        scope = record.instrumentation_scope
        name = scope.name if scope is not None else ""
        encoded = _encode_log(record).SerializeToString() + _seq_attribute(seq)
        return name, b"\x12" + varint(len(encoded)), encoded


def _trace_fields(context: Context) -> bytes:
    """flags (8), trace_id (9), span_id (10) of the span current at emission, if any."""
    span_context = get_current_span(context).get_span_context()
    if not span_context.trace_id:
        return b""
    return (
        b"\x45"
        + struct.pack("<I", int(span_context.trace_flags))
        + _field(0x4A, span_context.trace_id.to_bytes(16, "big"))
        + _field(0x52, span_context.span_id.to_bytes(8, "big"))
    )


class SdkRecords:
    """The same batch as SDK records, for an exporter that only takes those (tests, a
    custom exporter passed to ``configure``)."""

    def __init__(self, resource: Resource) -> None:
        self._resource = resource
        self._limits = LogRecordLimits()
        self._scopes: dict[str, InstrumentationScope] = {}

    def build(
        self, batch: Sequence[Entry | ReadableLogRecord], first_seq: int
    ) -> list[ReadableLogRecord]:
        out: list[ReadableLogRecord] = []
        for seq, entry in enumerate(batch, first_seq):
            if isinstance(entry, ReadableLogRecord):
                attrs = dict(entry.log_record.attributes or {})
                attrs[semconv.SEQ] = seq
                entry.log_record.attributes = attrs
                out.append(entry)
            else:
                out.append(self._record(entry, seq))
        return out

    def _record(self, entry: Entry, seq: int) -> ReadableLogRecord:
        scope_name, when, observed, severity, severity_text, body, attrs, ctx, event = entry
        timestamp = int(when * 1e9) if isinstance(when, float) else when
        attributes: dict[str, Any] = dict(attrs) if attrs else {}
        attributes[semconv.SEQ] = seq
        scope = self._scopes.get(scope_name)
        if scope is None:
            scope = self._scopes[scope_name] = InstrumentationScope(scope_name)
        record = LogRecord(
            timestamp=timestamp,
            observed_timestamp=observed or timestamp,
            context=ctx or None,
            severity_number=SeverityNumber(severity),
            severity_text=severity_text,
            body=body,
            attributes=attributes,
            event_name=event,
        )
        return ReadableLogRecord(
            log_record=record,
            resource=self._resource,
            instrumentation_scope=scope,
            limits=self._limits,
        )
