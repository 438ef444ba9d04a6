"""The stock OpenTelemetry SDK exporters against our receivers: auth headers, compression,
and retrying through backpressure on the hint the receiver gives."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
    OTLPLogExporter as GrpcLogExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import (
    OTLPLogExporter as HttpLogExporter,
)
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter
from opentelemetry.sdk.resources import Resource

from collector_service.auth import AuthConfig, TenantConfig
from collector_service.errors import BackpressureError, UnavailableError
from tests.collector_service.receiver_support import running_receivers

AUTH = AuthConfig(tenants={"acme": TenantConfig(tokens=["tok"])})  # type: ignore[list-item]


class _Collect(LogRecordProcessor):
    """Keeps emitted records so the test exports them itself and sees the result."""

    def __init__(self) -> None:
        self.records: list[ReadWriteLogRecord] = []

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        self.records.append(log_record)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _records(n: int) -> Sequence[ReadWriteLogRecord]:
    collect = _Collect()
    provider = LoggerProvider(
        resource=Resource.create({"cicd.pipeline.task.run.id": "tr-sdk", "service.name": "t"})
    )
    provider.add_log_record_processor(collect)
    logger = provider.get_logger("sdk-test")
    for i in range(n):
        logger.emit(body=f"line {i}")
    provider.shutdown()
    return collect.records


async def _export(exporter: LogRecordExporter, n: int) -> str:
    records = _records(n)
    try:
        result = await asyncio.to_thread(exporter.export, records)  # type: ignore[arg-type]
    finally:
        await asyncio.to_thread(exporter.shutdown)
    return str(result.name)


async def test_grpc_sdk_exporter_retries_through_resource_exhausted_and_unavailable() -> None:
    async with running_receivers(auth=AUTH) as rx:
        rx.sink.refusal = BackpressureError("full", retry_after=0.2)
        rx.sink.refuse_next = 2
        exporter = GrpcLogExporter(
            endpoint=rx.grpc_target, insecure=True, headers={"authorization": "Bearer tok"}
        )
        assert await _export(exporter, 5) == "SUCCESS"
        assert rx.refused_requests("grpc", "backpressure") == 2
        assert rx.sink.records == 5
        assert rx.sink.entries[0].tenant == "acme"

        rx.sink.refusal = UnavailableError("redis down", retry_after=0.2)
        rx.sink.refuse_next = 1
        exporter = GrpcLogExporter(
            endpoint=rx.grpc_target, insecure=True, headers={"authorization": "Bearer tok"}
        )
        assert await _export(exporter, 3) == "SUCCESS"
        assert rx.refused_requests("grpc", "unavailable") == 1
        assert rx.sink.records == 8


async def test_http_sdk_exporter_retries_through_429_and_503() -> None:
    async with running_receivers(auth=AUTH) as rx:
        for refusal, reason in (
            (BackpressureError("full", retry_after=0.2), "backpressure"),
            (UnavailableError("redis down", retry_after=0.2), "unavailable"),
        ):
            rx.sink.refusal, rx.sink.refuse_next = refusal, 1
            exporter = HttpLogExporter(
                endpoint=rx.http_url,
                headers={"Authorization": "Bearer tok"},
                compression=Compression.Gzip,
            )
            assert await _export(exporter, 4) == "SUCCESS"
            assert rx.refused_requests("http", reason) == 1
        assert rx.sink.records == 8
        assert {e.tenant for e in rx.sink.entries} == {"acme"}


async def test_sdk_exporters_without_a_token_fail_without_retrying() -> None:
    async with running_receivers(auth=AUTH) as rx:
        grpc_exp = GrpcLogExporter(endpoint=rx.grpc_target, insecure=True)
        assert await _export(grpc_exp, 1) == "FAILURE"
        http_exp = HttpLogExporter(endpoint=rx.http_url)
        assert await _export(http_exp, 1) == "FAILURE"
        assert rx.refused_requests("grpc", "unauthenticated") == 1
        assert rx.refused_requests("http", "unauthenticated") == 1
        assert rx.sink.entries == []


async def test_sdk_exporters_do_not_retry_an_oversized_export() -> None:
    async with running_receivers(grpc_mib=1, http_limit=64 * 1024) as rx:
        big = "x" * (1100 * 1024)
        for exporter, transport in (
            (GrpcLogExporter(endpoint=rx.grpc_target, insecure=True), "grpc"),
            (HttpLogExporter(endpoint=rx.http_url), "http"),
        ):
            records = _records(1)
            records[0].log_record.body = big
            try:
                result = await asyncio.to_thread(exporter.export, records)  # type: ignore[arg-type]
            finally:
                await asyncio.to_thread(exporter.shutdown)
            assert result.name == "FAILURE"
            assert rx.refused_requests(transport, "too_large") == 1  # one try, no retries
