"""A request with more records than an exporter's whole queue: accepted when the queue is
empty, refused (retryable) only while it holds something, so a retry always can succeed.

Real OTLP receivers (gRPC and HTTP) in front of the real pipeline and exporter queue; a
recording exporter stands in for the database.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

from collector_service.component.model import LogBatch
from collector_service.pipeline.config import ExporterHelperConfig
from collector_service.pipeline.memory import ExporterRunner
from collector_service.pipeline.router import Pipeline
from collector_service.receivers import (
    Ingestor,
    OtlpGrpcReceiver,
    OtlpHttpReceiver,
    ReceiverSettings,
)
from collector_service.receivers.config import GrpcConfig, HttpConfig
from tests.collector_service.receiver_support import GRPC_METHOD, make_request
from tests.support import free_port

PB = {"Content-Type": "application/x-protobuf"}
QUEUE = 50


class GatedRecorder:
    """Records pushed bodies; a push waits while ``gate`` is clear."""

    def __init__(self) -> None:
        self.bodies: list[str] = []
        self.gate = threading.Event()
        self.gate.set()

    def start(self) -> None: ...

    def shutdown(self) -> None: ...

    def push(self, batch: LogBatch) -> None:
        self.gate.wait(10)
        self.bodies.extend(batch.body)


@dataclass
class Rig:
    recorder: GatedRecorder
    runner: ExporterRunner
    grpc_target: str
    http_url: str

    async def drained(self) -> None:
        for _ in range(500):
            if self.runner.pending == 0:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"queue never drained ({self.runner.pending} pending)")


@asynccontextmanager
async def rig() -> AsyncIterator[Rig]:
    recorder = GatedRecorder()
    helper = ExporterHelperConfig.model_validate(
        {
            "batch": {"timeout_ms": 5, "send_batch_max_size": 100},
            "retry_on_failure": {"initial_interval_ms": 1, "max_elapsed_time_s": 5},
            "sending_queue": {"queue_size": QUEUE},
        }
    )
    runner = ExporterRunner("rec", recorder, helper)
    await runner.start()
    ingestor = Ingestor(ReceiverSettings(f"otlp/{uuid.uuid4().hex[:8]}"), Pipeline([runner]))
    grpc_rx = OtlpGrpcReceiver(GrpcConfig(endpoint=f"127.0.0.1:{free_port()}"), ingestor)
    http_rx = OtlpHttpReceiver(HttpConfig(endpoint=f"127.0.0.1:{free_port()}"), ingestor)
    await grpc_rx.start()
    await http_rx.start()
    try:
        yield Rig(
            recorder,
            runner,
            f"127.0.0.1:{grpc_rx.bound_port}",
            f"http://127.0.0.1:{http_rx.bound_port}/v1/logs",
        )
    finally:
        recorder.gate.set()
        await http_rx.stop(grace=2)
        await grpc_rx.stop(grace=2)
        await runner.stop(timeout=5)


def _payload(records: int, body: str) -> bytes:
    payload: bytes = make_request(["tr-big"], per_resource=records, body=body).SerializeToString()
    return payload


async def _grpc(target: str, payload: bytes) -> ExportLogsServiceResponse:
    async with grpc.aio.insecure_channel(target) as channel:
        data = await channel.unary_unary(GRPC_METHOD)(payload, timeout=10)
        response: ExportLogsServiceResponse = ExportLogsServiceResponse.FromString(data)
        return response


async def test_a_request_larger_than_the_queue_is_accepted_when_it_is_empty() -> None:
    async with rig() as r, httpx.AsyncClient() as client:
        resp = await client.post(r.http_url, content=_payload(3 * QUEUE, "http"), headers=PB)
        assert resp.status_code == 200, resp.text
        await r.drained()
        response = await _grpc(r.grpc_target, _payload(3 * QUEUE, "grpc"))
        assert not response.HasField("partial_success")
        await r.drained()
        assert len(r.recorder.bodies) == 6 * QUEUE
        assert {b.split()[0] for b in r.recorder.bodies} == {"http", "grpc"}


async def test_refused_only_while_the_queue_holds_records_and_a_retry_then_succeeds() -> None:
    async with rig() as r, httpx.AsyncClient() as client:
        r.recorder.gate.clear()  # the exporter is stuck: what is queued stays queued
        small = await client.post(r.http_url, content=_payload(10, "small"), headers=PB)
        assert small.status_code == 200
        big = _payload(2 * QUEUE, "big")
        refused = await client.post(r.http_url, content=big, headers=PB)
        assert refused.status_code == 429  # retryable: the queue will drain
        assert "queue is full" in refused.text
        assert "retry-after" in refused.headers
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await _grpc(r.grpc_target, big)
        assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        r.recorder.gate.set()
        await r.drained()
        retried = await client.post(r.http_url, content=big, headers=PB)
        assert retried.status_code == 200
        await r.drained()
        assert len(r.recorder.bodies) == 10 + 2 * QUEUE
