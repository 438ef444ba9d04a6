"""OTLP/gRPC logs receiver (``opentelemetry.proto.collector.logs.v1.LogsService/Export``).

The handler takes the raw request bytes (no generated servicer), parses them once with
the upb protobuf runtime and hands them to the shared :class:`Ingestor`: no per-record
Python work here. Status codes follow the OTLP specification:

- ``UNAUTHENTICATED``: tenants are configured and the ``authorization`` metadata holds no
  known bearer token;
- ``INVALID_ARGUMENT``: a malformed body (not retryable);
- ``INVALID_ARGUMENT``: a message over ``max_recv_msg_size_mib`` (the same message would
  fail again, and the Python SDK retries ``RESOURCE_EXHAUSTED`` even without a hint);
  past twice the limit gRPC itself refuses with ``RESOURCE_EXHAUSTED`` before the handler
  runs (not counted by the receiver metrics);
- ``RESOURCE_EXHAUSTED`` / ``UNAVAILABLE`` with a ``RetryInfo`` detail: the pipeline is
  full or its durable queue is down; every OTel SDK retries after the hinted delay.

gzip bodies (``grpc-encoding: gzip``) are decompressed by gRPC itself, and its receive
limit bounds the decompressed size.
"""

from __future__ import annotations

import logging

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc import code_pb2, error_details_pb2, status_pb2

from collector_service.component.decode import parse_request
from collector_service.errors import (
    AuthError,
    BackpressureError,
    DecodeError,
    UnavailableError,
)
from collector_service.receivers.accept import Ingestor
from collector_service.receivers.config import GrpcConfig

__all__ = ["OtlpGrpcReceiver"]

_log = logging.getLogger(__name__)
_SERVICE = "opentelemetry.proto.collector.logs.v1.LogsService"
_TRANSPORT = "grpc"
#: gRPC itself refuses (uncounted) only past twice the limit; between the limit and that,
#: the handler refuses and counts the message as too large.
_HARD_LIMIT_FACTOR = 2
_MAX_GRPC_LIMIT = 2**31 - 1


class OtlpGrpcReceiver:
    """An asyncio gRPC server for OTLP logs."""

    def __init__(self, config: GrpcConfig, ingestor: Ingestor) -> None:
        self._config = config
        self._ingestor = ingestor
        self._limit = config.max_recv_msg_size_mib * 1024 * 1024
        self._server: grpc.aio.Server | None = None
        self.bound_port: int | None = None

    async def _export(self, payload: bytes, context: grpc.aio.ServicerContext) -> bytes:
        with self._ingestor.timer(_TRANSPORT):
            return await self._handle(payload, context)

    async def _handle(self, payload: bytes, context: grpc.aio.ServicerContext) -> bytes:
        ingestor = self._ingestor
        try:
            tenant = ingestor.authenticate(_TRANSPORT, _authorization(context))
        except AuthError as exc:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        if len(payload) > self._limit:
            ingestor.refused(_TRANSPORT, "too_large")
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"message of {len(payload)} bytes is larger than max_recv_msg_size_mib "
                f"({self._limit} bytes)",
            )
        try:
            request = parse_request(payload)
        except DecodeError as exc:
            ingestor.refused(_TRANSPORT, "malformed")
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        try:
            response = await ingestor.export(_TRANSPORT, request, payload, tenant)
        except BackpressureError as exc:
            unavailable = isinstance(exc, UnavailableError)
            code = (
                grpc.StatusCode.UNAVAILABLE if unavailable else grpc.StatusCode.RESOURCE_EXHAUSTED
            )
            rpc_code = code_pb2.UNAVAILABLE if unavailable else code_pb2.RESOURCE_EXHAUSTED
            await context.abort(
                code, str(exc), _retry_trailers(rpc_code, str(exc), exc.retry_after)
            )
        data: bytes = response.SerializeToString()
        return data

    async def start(self) -> None:
        hard_limit = min(self._limit * _HARD_LIMIT_FACTOR, _MAX_GRPC_LIMIT)
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", hard_limit),
                ("grpc.so_reuseport", 0),
            ]
        )
        handler = grpc.unary_unary_rpc_method_handler(self._export)  # raw bytes in and out
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(_SERVICE, {"Export": handler}),)
        )
        tls = self._config.tls
        if tls is None:
            self.bound_port = server.add_insecure_port(self._config.endpoint)
        else:
            credentials = grpc.ssl_server_credentials(
                [(tls.key_file.read_bytes(), tls.cert_file.read_bytes())],
                root_certificates=tls.client_ca_file.read_bytes() if tls.client_ca_file else None,
                require_client_auth=tls.client_ca_file is not None,
            )
            self.bound_port = server.add_secure_port(self._config.endpoint, credentials)
        if not self.bound_port:
            raise OSError(f"OTLP/gRPC receiver cannot bind {self._config.endpoint}")
        await server.start()
        self._server = server
        _log.info(
            "OTLP/gRPC receiver listening on %s%s",
            self._config.endpoint,
            " (TLS)" if tls is not None else "",
        )

    async def stop(self, grace: float = 5.0) -> None:
        """Stop accepting new calls and let in-flight Exports finish within ``grace``."""
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None


def _authorization(context: grpc.aio.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            return value if isinstance(value, str) else value.decode("latin-1")
    return None


def _retry_trailers(code: int, message: str, retry_after: float) -> tuple[tuple[str, bytes], ...]:
    """The retry hint twice: as a ``google.rpc.Status`` detail (Go, Java, the Collector)
    and as the ``google.rpc.retryinfo-bin`` trailer the Python SDK reads."""
    seconds = int(retry_after)
    info = error_details_pb2.RetryInfo(
        retry_delay=Duration(seconds=seconds, nanos=int((retry_after - seconds) * 1e9))
    )
    status = status_pb2.Status(code=code, message=message)
    status.details.add().Pack(info)
    return (
        ("grpc-status-details-bin", status.SerializeToString()),
        ("google.rpc.retryinfo-bin", info.SerializeToString()),
    )
