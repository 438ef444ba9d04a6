"""OTLP/gRPC receiver over a real socket: errors, limits, auth, partial success, retry hints."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

from collector_service.auth import AuthConfig, TenantConfig
from collector_service.errors import BackpressureError, UnavailableError
from tests.collector_service.receiver_support import (
    GRPC_METHOD,
    Receivers,
    make_request,
    running_receivers,
)


async def _call(
    rx: Receivers,
    payload: bytes,
    metadata: tuple[tuple[str, str], ...] = (),
    compression: grpc.Compression | None = None,
) -> ExportLogsServiceResponse:
    async with grpc.aio.insecure_channel(
        rx.grpc_target, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
    ) as channel:
        export = channel.unary_unary(GRPC_METHOD)
        data = await export(payload, metadata=metadata, compression=compression, timeout=10)
        response: ExportLogsServiceResponse = ExportLogsServiceResponse.FromString(data)
        return response


async def _error(rx: Receivers, payload: bytes, **kwargs: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _call(rx, payload, **kwargs)  # type: ignore[arg-type]
    return info.value


async def test_export_plain_and_gzip() -> None:
    async with running_receivers() as rx:
        payload = make_request(["a", "b"]).SerializeToString()
        assert await _call(rx, payload) == ExportLogsServiceResponse()
        assert await _call(rx, payload, compression=grpc.Compression.Gzip) == (
            ExportLogsServiceResponse()
        )
        assert rx.sink.records == 8
        assert all(e.payload == payload for e in rx.sink.entries)
        assert rx.accepted_records("grpc") == 8


async def test_malformed_protobuf_is_invalid_argument_and_serving_goes_on() -> None:
    async with running_receivers() as rx:
        err = await _error(rx, b"\xff\xff\xff\xff\x0f garbage")
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "malformed ExportLogsServiceRequest" in (err.details() or "")
        assert rx.refused_requests("grpc", "malformed") == 1
        await _call(rx, make_request(["ok"]).SerializeToString())
        assert rx.sink.records == 2


async def test_oversized_message_is_refused_and_counted() -> None:
    async with running_receivers(grpc_mib=1) as rx:
        big = make_request(["big"], per_resource=1, body="x" * (1024 * 1024 + 10))
        err = await _error(rx, big.SerializeToString())
        # Not retryable: the same message would fail again.
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "larger than max_recv_msg_size_mib" in (err.details() or "")
        # Far past the limit, gRPC itself refuses before the handler runs.
        huge = make_request(["huge"], per_resource=1, body="x" * (3 * 1024 * 1024))
        assert (await _error(rx, huge.SerializeToString())).code() == (
            grpc.StatusCode.RESOURCE_EXHAUSTED
        )
        assert rx.refused_requests("grpc", "too_large") == 1
        await _call(rx, make_request(["ok"]).SerializeToString())


async def test_gzip_bomb_is_bounded_by_the_decompressed_size() -> None:
    async with running_receivers(grpc_mib=1) as rx:
        gz = grpc.Compression.Gzip
        inflates = make_request(["bomb"], per_resource=1, body="\x00" * (1536 * 1024))
        err = await _error(rx, inflates.SerializeToString(), compression=gz)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert rx.refused_requests("grpc", "too_large") == 1
        # 8 MiB inflated: gRPC stops decompressing at its own (2x) limit.
        bomb = make_request(["bomb"], per_resource=1, body="\x00" * (8 << 20))
        err = await _error(rx, bomb.SerializeToString(), compression=gz)
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        await _call(rx, make_request(["ok"]).SerializeToString(), compression=gz)
        assert rx.sink.records == 2


async def test_auth_metadata() -> None:
    auth = AuthConfig(
        tenants={
            "acme": TenantConfig(tokens=["tok-a"]),  # type: ignore[list-item]
            "globex": TenantConfig(tokens=["tok-g"]),  # type: ignore[list-item]
        }
    )
    async with running_receivers(auth=auth) as rx:
        payload = make_request(["t"]).SerializeToString()
        for md in ((), (("authorization", "Bearer nope"),)):
            err = await _error(rx, payload, metadata=md)
            assert err.code() == grpc.StatusCode.UNAUTHENTICATED
        assert rx.refused_requests("grpc", "unauthenticated") == 2
        await _call(rx, payload, metadata=(("authorization", "Bearer tok-g"),))
        await _call(rx, payload, metadata=(("authorization", "bearer tok-a"),))
        assert [e.tenant for e in rx.sink.entries] == ["globex", "acme"]


async def test_partial_success() -> None:
    async with running_receivers(require_task_identity=True) as rx:
        resp = await _call(rx, make_request([None, "tr-1"], per_resource=4).SerializeToString())
        assert resp.partial_success.rejected_log_records == 4
        assert "cicd.pipeline.task.run.id" in resp.partial_success.error_message
        assert rx.sink.records == 4
        # Everything rejected: still a success with partial_success, nothing submitted.
        resp = await _call(rx, make_request([None]).SerializeToString())
        assert resp.partial_success.rejected_log_records == 2
        assert len(rx.sink.entries) == 1
        assert rx.refused_records("grpc", "rejected") == 6


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (BackpressureError("queue is full", retry_after=1.25), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (UnavailableError("redis is down", retry_after=2), grpc.StatusCode.UNAVAILABLE),
    ],
)
async def test_backpressure_status_carries_retry_info(
    error: BackpressureError, code: grpc.StatusCode
) -> None:
    async with running_receivers() as rx:
        rx.sink.refusal, rx.sink.refuse_next = error, 1
        err = await _error(rx, make_request(["bp"]).SerializeToString())
        assert err.code() == code
        trailers = dict(err.trailing_metadata() or ())
        info = error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
        assert info.retry_delay.ToTimedelta().total_seconds() == error.retry_after
        status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
        detail = error_details_pb2.RetryInfo()
        assert status.details[0].Unpack(detail)
        assert detail == info
        await _call(rx, make_request(["ok"]).SerializeToString())
        assert rx.sink.records == 2


async def test_graceful_stop_finishes_in_flight_calls() -> None:
    async with running_receivers() as rx:
        rx.sink.delay = 0.5
        call = asyncio.create_task(_call(rx, make_request(["slow"]).SerializeToString()))
        await asyncio.sleep(0.2)
        await rx.grpc.stop(grace=5)
        assert await call == ExportLogsServiceResponse()
        assert rx.sink.records == 2
        err = await _error(rx, make_request(["late"]).SerializeToString())
        assert err.code() == grpc.StatusCode.UNAVAILABLE
