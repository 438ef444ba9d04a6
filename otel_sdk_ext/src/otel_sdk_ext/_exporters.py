"""Build the OTLP log exporter (gRPC or HTTP/protobuf) from :class:`Settings`.

The exporters are the stock ones plus :meth:`export_encoded`: the delivery thread
encodes a batch to the bytes of an ``ExportLogsServiceRequest`` itself (``_wire``, no
per-record SDK objects) and the exporter sends those bytes with its own retries,
timeout, headers, compression and metrics. ``export()`` of SDK records still works.

The stock exporters retry transient errors themselves within their timeout; the
delivery processor (``_delivery``) retries again around them for as long as the task
runs, so a collector restart loses nothing. Everything is passed explicitly (endpoint,
headers, compression, timeout), so what the settings say is what is used.
"""

from __future__ import annotations

import functools
from typing import Any, Protocol, runtime_checkable

from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult

from otel_sdk_ext.settings import Settings

__all__ = ["EncodedExporter", "build_exporter", "insecure_for"]

_EXPORT_METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


@runtime_checkable
class EncodedExporter(Protocol):
    """An exporter that takes a batch already encoded as ExportLogsServiceRequest."""

    def export_encoded(self, payload: bytes, count: int) -> LogRecordExportResult: ...


class _Encoded:
    """A pre-encoded batch travelling through the stock gRPC exporter's ``_export``."""

    __slots__ = ("count", "payload")

    def __init__(self, payload: bytes, count: int) -> None:
        self.payload = payload
        self.count = count

    def __len__(self) -> int:
        return self.count


def _identity(payload: bytes) -> bytes:
    return payload


def insecure_for(endpoint: str) -> bool | None:
    """``True`` for ``http://``, ``False`` for ``https://``; ``None`` (the exporter and
    ``OTEL_EXPORTER_OTLP_*INSECURE`` decide) for a bare ``host:port``."""
    lowered = endpoint.lower()
    if lowered.startswith("http://"):
        return True
    if lowered.startswith("https://"):
        return False
    return None


def build_exporter(settings: Settings) -> LogRecordExporter:
    """A new exporter for ``settings`` (a forked child calls this again: new channel)."""
    if settings.protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression

        exporter: LogRecordExporter = _http_exporter_class()(
            endpoint=settings.endpoint,
            headers=dict(settings.headers),
            timeout=settings.export_timeout_s,
            compression=(
                HttpCompression.Gzip
                if settings.compression == "gzip"
                else HttpCompression.NoCompression
            ),
        )
        return exporter
    # Imported here: grpc is heavy, and not needed for HTTP or an injected exporter.
    from grpc import Compression as GrpcCompression

    grpc_exporter: LogRecordExporter = _grpc_exporter_class()(
        endpoint=settings.endpoint,
        insecure=insecure_for(settings.endpoint),
        headers=dict(settings.headers),
        timeout=settings.export_timeout_s,
        compression=(
            GrpcCompression.Gzip
            if settings.compression == "gzip"
            else GrpcCompression.NoCompression
        ),
    )
    return grpc_exporter


@functools.cache
def _http_exporter_class() -> Any:  # a class made once, on first use
    from opentelemetry.exporter.otlp.proto.http._common import _is_request_too_large
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    class HttpExporter(OTLPLogExporter):
        def export_encoded(self, payload: bytes, count: int) -> LogRecordExportResult:
            """``export`` of the stock exporter (1.45), minus its encoding step."""
            state: Any = self
            if state._shutdown:
                return LogRecordExportResult.FAILURE
            with state._metrics.export_operation(count) as result:
                if _is_request_too_large(payload, state._max_request_size):
                    result.error = ValueError(
                        f"logs request of {len(payload)} bytes exceeds max_request_size"
                    )
                    return LogRecordExportResult.FAILURE
                export_result = state._client.export(payload)
                if not export_result.success:
                    result.error = export_result.error
                    return LogRecordExportResult.FAILURE
            return LogRecordExportResult.SUCCESS

    return HttpExporter


@functools.cache
def _grpc_exporter_class() -> Any:  # a class made once, on first use
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.grpc.exporter import OTLPExporterMixin
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
        ExportLogsServiceResponse,
    )

    class RawLogsStub:
        """LogsService's stub with a pass-through serializer: requests are bytes."""

        def __init__(self, channel: Any) -> None:
            self.Export = channel.unary_unary(
                _EXPORT_METHOD,
                request_serializer=_identity,
                response_deserializer=ExportLogsServiceResponse.FromString,
            )

    class GrpcExporter(OTLPLogExporter):
        # The stock retry loop (RetryInfo, reconnect on UNAVAILABLE, deadline, metrics)
        # is kept: only the request type changes, to already serialized bytes.
        def _initialize_channel_and_stub(self) -> None:
            super()._initialize_channel_and_stub()  # type: ignore[no-untyped-call]
            state: Any = self
            state._client = RawLogsStub(state._channel)

        def _translate_data(self, data: Any) -> Any:
            if isinstance(data, _Encoded):
                return data.payload
            return encode_logs(data).SerializeToString()

        def export_encoded(self, payload: bytes, count: int) -> LogRecordExportResult:
            export: Any = OTLPExporterMixin._export
            result: LogRecordExportResult = export(self, _Encoded(payload, count))
            return result

    return GrpcExporter
