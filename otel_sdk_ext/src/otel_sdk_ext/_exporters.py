"""Build the stock OTLP log exporter (gRPC or HTTP/protobuf) from :class:`Settings`.

The stock exporters retry transient errors themselves within their timeout; the
delivery processor (``_delivery``) retries again around them for as long as the task
runs, so a collector restart loses nothing. Everything is passed explicitly (endpoint,
headers, compression, timeout), so what the settings say is what is used.
"""

from __future__ import annotations

from opentelemetry.sdk._logs.export import LogRecordExporter

from otel_sdk_ext.settings import Settings

__all__ = ["build_exporter", "insecure_for"]


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
        from opentelemetry.exporter.otlp.proto.http._log_exporter import (
            OTLPLogExporter as HttpExporter,
        )

        return HttpExporter(
            endpoint=settings.endpoint,
            headers=dict(settings.headers),
            timeout=settings.export_timeout_s,
            compression=(
                HttpCompression.Gzip
                if settings.compression == "gzip"
                else HttpCompression.NoCompression
            ),
        )
    # Imported here: grpc is heavy, and not needed for HTTP or an injected exporter.
    from grpc import Compression as GrpcCompression
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
        OTLPLogExporter as GrpcExporter,
    )

    return GrpcExporter(
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
