"""Config of the OTLP receivers (the Collector's ``receivers.otlp`` keys)."""

from __future__ import annotations

from typing import Any

from pydantic import (
    Field,
    FilePath,
    field_validator,
)

from collector_service.component.config import StrictModel, check_endpoint

__all__ = [
    "CorsConfig",
    "GrpcConfig",
    "HttpConfig",
    "OtlpProtocols",
    "OtlpReceiverConfig",
    "TlsConfig",
]


class TlsConfig(StrictModel):
    """TLS for a receiver (the Collector's ``tls`` keys); files are checked at load time."""

    cert_file: FilePath
    key_file: FilePath
    #: When set, clients must present a certificate signed by this CA (mutual TLS).
    client_ca_file: FilePath | None = None


class GrpcConfig(StrictModel):
    endpoint: str = "127.0.0.1:4317"
    max_recv_msg_size_mib: int = Field(default=16, ge=1, le=1024)
    #: Serve TLS (needed e.g. by the Collector's bearertokenauth over gRPC).
    tls: TlsConfig | None = None

    _endpoint = field_validator("endpoint")(check_endpoint)


class CorsConfig(StrictModel):
    """Browser access to OTLP/HTTP (off unless origins are listed)."""

    #: Origins allowed to POST logs from a browser, e.g. ``https://ci.example.com``.
    allowed_origins: list[str] = []
    #: Extra request headers a browser may send (``Content-Type`` and friends always).
    allowed_headers: list[str] = []
    #: Seconds a browser may cache the preflight answer.
    max_age: int = Field(default=7200, ge=0)


class HttpConfig(StrictModel):
    """OTLP/HTTP: ``POST /v1/logs`` with a protobuf or JSON body."""

    endpoint: str = "127.0.0.1:4318"
    #: Largest request body in bytes, on the wire and after decompression (no zip bombs).
    max_request_body_size: int = Field(default=20 * 1024 * 1024, ge=1024)
    cors: CorsConfig = CorsConfig()
    tls: TlsConfig | None = None

    _endpoint = field_validator("endpoint")(check_endpoint)


class OtlpProtocols(StrictModel):
    """As in the Collector, a protocol runs when its section is present (``grpc: {}``)."""

    grpc: GrpcConfig | None = None
    http: HttpConfig | None = None

    def model_post_init(self, context: Any, /) -> None:
        if self.grpc is None and self.http is None:
            raise ValueError("no protocol configured: add grpc: {} and/or http: {}")


class OtlpReceiverConfig(StrictModel):
    #: With no config file at all both protocols run on their default loopback ports.
    protocols: OtlpProtocols = OtlpProtocols(grpc=GrpcConfig(), http=HttpConfig())
    #: Reject (via ``partial_success``) records whose resource lacks
    #: ``cicd.pipeline.task.run.id``; the rest of the request is accepted.
    require_task_identity: bool = False
    #: Export requests of one tenant (anonymous senders share one budget) in flight at
    #: once in this receiver; past it that tenant gets ``RESOURCE_EXHAUSTED`` / 429 with a
    #: retry hint, so one flooding tenant cannot take every slot from the others.
    max_requests_per_tenant: int = Field(default=64, ge=1)
