"""OTLP/gRPC logs receiver (``opentelemetry.proto.collector.logs.v1.LogsService/Export``).

The handler takes the raw request bytes (no generated servicer), parses them once with
the upb protobuf runtime, counts the records and hands the parsed request to the
pipeline: no per-record Python work here. Status codes follow the OTLP specification:
``INVALID_ARGUMENT`` for a malformed body (not retryable), ``RESOURCE_EXHAUSTED`` with a
``RetryInfo`` hint when the pipeline is full (retryable by every OTel SDK).
"""

from __future__ import annotations

import logging

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

from collector_service.config import GrpcConfig
from collector_service.decode import count_records, parse_request
from collector_service.errors import BackpressureError, DecodeError
from collector_service.pipeline import IngestEntry, Pipeline

__all__ = ["OtlpGrpcReceiver"]

_log = logging.getLogger(__name__)
_SERVICE = "opentelemetry.proto.collector.logs.v1.LogsService"
_EMPTY_RESPONSE: bytes = ExportLogsServiceResponse().SerializeToString()


class OtlpGrpcReceiver:
    """An asyncio gRPC server for OTLP logs."""

    def __init__(self, config: GrpcConfig, pipeline: Pipeline) -> None:
        self._config = config
        self._pipeline = pipeline
        self._server: grpc.aio.Server | None = None
        self.bound_port: int | None = None

    async def _export(self, payload: bytes, context: grpc.aio.ServicerContext) -> bytes:
        try:
            request = parse_request(payload)
        except DecodeError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        records = count_records(request)
        if records == 0:
            return _EMPTY_RESPONSE
        try:
            await self._pipeline.submit(
                IngestEntry(request=request, records=records, payload=payload)
            )
        except BackpressureError as exc:
            await context.abort_with_status(_retryable_status(str(exc), exc.retry_after))
        return _EMPTY_RESPONSE

    async def start(self) -> None:
        max_size = self._config.max_recv_msg_size_mib * 1024 * 1024
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", max_size),
                ("grpc.so_reuseport", 0),
            ]
        )
        handler = grpc.unary_unary_rpc_method_handler(self._export)  # raw bytes in and out
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(_SERVICE, {"Export": handler}),)
        )
        self.bound_port = server.add_insecure_port(self._config.endpoint)
        if not self.bound_port:
            raise OSError(f"OTLP/gRPC receiver cannot bind {self._config.endpoint}")
        await server.start()
        self._server = server
        _log.info("OTLP/gRPC receiver listening on %s", self._config.endpoint)

    async def stop(self, grace: float = 5.0) -> None:
        """Stop accepting new calls and let in-flight Exports finish within ``grace``."""
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None


def _retryable_status(message: str, retry_after: float) -> grpc.Status:
    seconds = int(retry_after)
    info = error_details_pb2.RetryInfo(
        retry_delay=Duration(seconds=seconds, nanos=int((retry_after - seconds) * 1e9))
    )
    status = status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message=message)
    status.details.add().Pack(info)
    return rpc_status.to_status(status)
