"""OTLP/HTTP receiver over a real socket: encodings, limits, errors, auth, partial success."""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from collections.abc import Callable

import httpx
import pytest
import zstandard
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

from collector_service.auth import AuthConfig, TenantConfig
from collector_service.component.decode import decode_request
from collector_service.errors import BackpressureError, UnavailableError
from collector_service.receivers.config import CorsConfig, HttpConfig
from tests.collector_service.receiver_support import make_request, running_receivers
from tests.support import free_port

PB = {"Content-Type": "application/x-protobuf"}
JS = {"Content-Type": "application/json"}


def _json_body(task_run_id: str = "tr-1") -> dict[str, object]:
    return {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [
                        {"key": "cicd.pipeline.task.run.id", "value": {"stringValue": task_run_id}}
                    ]
                },
                "scopeLogs": [
                    {
                        "scope": {"name": "s"},
                        "logRecords": [
                            {
                                "timeUnixNano": "1700000000000000001",
                                "severityNumber": 9,
                                "body": {"stringValue": "hello"},
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "attributes": [{"key": "n", "value": {"intValue": "42"}}],
                                "someFutureField": {"ignored": True},
                            }
                        ],
                    }
                ],
            }
        ]
    }


async def _ok(client: httpx.AsyncClient, url: str) -> None:
    """The receiver still serves: a small valid request is accepted."""
    resp = await client.post(url, content=make_request(["tr-ok"]).SerializeToString(), headers=PB)
    assert resp.status_code == 200, resp.text


async def test_protobuf_and_json_bodies_are_accepted_and_answered_in_kind() -> None:
    async with running_receivers() as rx, httpx.AsyncClient() as client:
        resp = await client.post(
            rx.http_url, content=make_request(["a", "b"]).SerializeToString(), headers=PB
        )
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "application/x-protobuf"
        assert ExportLogsServiceResponse.FromString(resp.content) == ExportLogsServiceResponse()

        resp = await client.post(rx.http_url, content=json.dumps(_json_body()), headers=JS)
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"] == "application/json"
        assert resp.json() == {}
        assert rx.sink.records == 5
        entry = rx.sink.entries[-1]
        batch = decode_request(entry.request)
        # OTLP/JSON: hex ids, string int64, integer enums, unknown fields ignored.
        assert batch.trace_id == ["5b8efff798038103d269b633813fc60c"]
        assert batch.span_id == ["eee19b7ec3c1b174"]
        assert batch.timestamp == [1700000000000000001]
        assert batch.severity_number == [9]
        assert batch.log_attributes == [{"n": "42"}]
        # The payload handed on is binary protobuf, whatever came over the wire.
        assert entry.payload == entry.request.SerializeToString()
        assert rx.accepted_records("http") == 5


@pytest.mark.parametrize("coding", ["gzip", "zstd", "deflate"])
async def test_compressed_bodies(coding: str) -> None:
    raw = make_request(["tr-c"], per_resource=50).SerializeToString()
    compressors: dict[str, Callable[[bytes], bytes]] = {
        "gzip": gzip.compress,
        "zstd": zstandard.ZstdCompressor().compress,
        "deflate": zlib.compress,
    }
    compress = compressors[coding]
    async with running_receivers() as rx, httpx.AsyncClient() as client:
        resp = await client.post(
            rx.http_url, content=compress(raw), headers={**PB, "Content-Encoding": coding}
        )
        assert resp.status_code == 200, resp.text
        assert rx.sink.entries[0].payload == raw
        js = gzip.compress(json.dumps(_json_body()).encode())
        resp = await client.post(
            rx.http_url, content=js, headers={**JS, "Content-Encoding": "gzip"}
        )
        assert resp.status_code == 200, resp.text
        assert rx.sink.records == 51


@pytest.mark.parametrize(
    ("headers", "body", "status", "needle"),
    [
        (PB, b"\xff\xff\xff\xff\x0f garbage", 400, "malformed ExportLogsServiceRequest"),
        (JS, b'{"resourceLogs": [', 400, "malformed JSON"),
        (JS, b'{"resourceLogs": "nope"}', 400, "malformed ExportLogsServiceRequest"),
        (JS, b"[1, 2]", 400, "must be an object"),
        (
            JS,
            b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"xyz"}]}]}]}',
            400,
            "not a hex string",
        ),
        ({**PB, "Content-Encoding": "gzip"}, b"not gzip at all", 400, "malformed gzip"),
        ({**PB, "Content-Encoding": "zstd"}, b"not zstd at all", 400, "malformed zstd"),
        ({**PB, "Content-Encoding": "br"}, b"x", 415, "unsupported Content-Encoding"),
        ({"Content-Type": "text/plain"}, b"x", 415, "unsupported Content-Type"),
    ],
)
async def test_malformed_requests_get_a_clear_error_and_the_receiver_keeps_serving(
    headers: dict[str, str], body: bytes, status: int, needle: str
) -> None:
    async with running_receivers() as rx, httpx.AsyncClient() as client:
        resp = await client.post(rx.http_url, content=body, headers=headers)
        assert resp.status_code == status
        if headers["Content-Type"] == "application/x-protobuf":
            message = status_pb2.Status.FromString(resp.content).message
        else:
            assert resp.headers["content-type"] == "application/json"
            message = resp.json()["message"]
        assert needle in message
        assert rx.refused_requests("http", "malformed") == 1
        await _ok(client, rx.http_url)
        assert rx.sink.records == 2


async def test_oversized_bodies_are_refused_on_the_wire_and_after_decompression() -> None:
    limit = 64 * 1024
    async with running_receivers(http_limit=limit) as rx, httpx.AsyncClient() as client:
        big = make_request(["tr-big"], body="x" * (limit + 1), per_resource=1)
        resp = await client.post(rx.http_url, content=big.SerializeToString(), headers=PB)
        assert resp.status_code == 413
        assert "larger than 65536 bytes" in status_pb2.Status.FromString(resp.content).message

        # Chunked, no Content-Length: the read stops at the limit.
        async def chunks() -> object:
            for _ in range(100):
                yield b"\x00" * 4096

        resp = await client.post(rx.http_url, content=chunks(), headers=PB)  # type: ignore[arg-type]
        assert resp.status_code == 413

        # Zip bombs: a few KiB on the wire, 50 MiB inflated.
        bomb = b"\x00" * (50 * 1024 * 1024)
        for coding, packed in (
            ("gzip", gzip.compress(bomb, 9)),
            ("zstd", zstandard.ZstdCompressor(level=19).compress(bomb)),
        ):
            assert len(packed) < limit
            resp = await client.post(
                rx.http_url, content=packed, headers={**PB, "Content-Encoding": coding}
            )
            assert resp.status_code == 413, coding
        assert rx.refused_requests("http", "too_large") == 4
        await _ok(client, rx.http_url)


async def test_auth_refuses_missing_and_unknown_tokens_and_stamps_the_tenant() -> None:
    auth = AuthConfig(tenants={"acme": TenantConfig(tokens=["s3cret"])})  # type: ignore[list-item]
    async with running_receivers(auth=auth) as rx, httpx.AsyncClient() as client:
        body = make_request(["tr-auth"]).SerializeToString()
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
            resp = await client.post(rx.http_url, content=body, headers={**PB, **headers})
            assert resp.status_code == 401
            assert resp.headers["www-authenticate"].startswith("Bearer")
        resp = await client.post(
            rx.http_url, content=json.dumps(_json_body()), headers={**JS, "Authorization": "x"}
        )
        assert resp.status_code == 401
        assert resp.json()["message"] == "missing bearer token"
        assert rx.refused_requests("http", "unauthenticated") == 4
        assert rx.sink.entries == []

        resp = await client.post(
            rx.http_url, content=body, headers={**PB, "Authorization": "Bearer s3cret"}
        )
        assert resp.status_code == 200
        (entry,) = rx.sink.entries
        assert entry.tenant == "acme"
        # The forged tasklogs.tenant of the producer is replaced when decoded.
        batch = decode_request(entry.request, tenant=entry.tenant)
        assert {a["tasklogs.tenant"] for a in batch.resource_attributes} == {"acme"}


async def test_partial_success_rejects_resources_without_task_identity() -> None:
    async with running_receivers(require_task_identity=True) as rx, httpx.AsyncClient() as c:
        request = make_request(["tr-1", None, "tr-2", None], per_resource=3)
        resp = await c.post(rx.http_url, content=request.SerializeToString(), headers=PB)
        assert resp.status_code == 200
        ps = ExportLogsServiceResponse.FromString(resp.content).partial_success
        assert ps.rejected_log_records == 6
        assert "cicd.pipeline.task.run.id" in ps.error_message
        (entry,) = rx.sink.entries
        assert entry.records == 6
        assert entry.payload == entry.request.SerializeToString()
        kept = decode_request(entry.request)
        assert {a["cicd.pipeline.task.run.id"] for a in kept.resource_attributes} == {
            "tr-1",
            "tr-2",
        }

        body = _json_body()
        del body["resourceLogs"][0]["resource"]  # type: ignore[index]
        resp = await c.post(rx.http_url, content=json.dumps(body), headers=JS)
        assert resp.status_code == 200
        ps_json = resp.json()["partialSuccess"]
        assert ps_json["rejectedLogRecords"] == "1"  # int64 as a string in OTLP/JSON
        assert "require_task_identity" in ps_json["errorMessage"]
        assert rx.refused_records("http", "rejected") == 7
        assert rx.accepted_records("http") == 6


@pytest.mark.parametrize(
    ("error", "status", "retry_after"),
    [
        (BackpressureError("queue is full", retry_after=1.5), 429, "2"),
        (UnavailableError("redis is down", retry_after=3), 503, "3"),
    ],
)
async def test_backpressure_answers_with_retry_after(
    error: BackpressureError, status: int, retry_after: str
) -> None:
    reason = "unavailable" if isinstance(error, UnavailableError) else "backpressure"
    async with running_receivers() as rx, httpx.AsyncClient() as client:
        rx.sink.refusal, rx.sink.refuse_next = error, 1
        body = make_request(["tr-bp"]).SerializeToString()
        resp = await client.post(rx.http_url, content=body, headers=PB)
        assert resp.status_code == status
        assert resp.headers["retry-after"] == retry_after
        assert str(error) in status_pb2.Status.FromString(resp.content).message
        assert rx.refused_records("http", reason) == 2
        assert rx.refused_requests("http", reason) == 1
        await _ok(client, rx.http_url)


async def test_only_post_to_v1_logs() -> None:
    async with running_receivers() as rx, httpx.AsyncClient() as client:
        assert (await client.get(rx.http_url)).status_code == 405
        other = rx.http_url.replace("/v1/logs", "/v1/traces")
        assert (await client.post(other, content=b"", headers=PB)).status_code == 404
        empty = await client.post(rx.http_url, content=b"", headers=PB)
        assert empty.status_code == 200  # an empty request is a valid, empty Export


async def test_cors_is_off_by_default_and_on_for_listed_origins() -> None:
    origin = {"Origin": "https://ci.example.com", "Access-Control-Request-Method": "POST"}
    async with running_receivers() as rx, httpx.AsyncClient() as client:
        resp = await client.options(rx.http_url, headers=origin)
        assert "access-control-allow-origin" not in resp.headers
    cfg = HttpConfig(
        endpoint=f"127.0.0.1:{free_port()}",
        cors=CorsConfig(allowed_origins=["https://ci.example.com"]),
    )
    async with running_receivers(http_config=cfg) as rx, httpx.AsyncClient() as client:
        resp = await client.options(rx.http_url, headers=origin)
        assert resp.status_code == 200
        assert resp.headers["access-control-allow-origin"] == "https://ci.example.com"


async def test_graceful_stop_finishes_in_flight_requests_then_refuses_connections() -> None:
    async with running_receivers() as rx, httpx.AsyncClient() as client:
        rx.sink.delay = 0.5
        body = make_request(["tr-slow"]).SerializeToString()
        in_flight = asyncio.create_task(client.post(rx.http_url, content=body, headers=PB))
        await asyncio.sleep(0.2)
        await rx.http.stop(grace=5)
        resp = await in_flight
        assert resp.status_code == 200
        assert rx.sink.records == 2
        with pytest.raises(httpx.ConnectError):
            await client.post(rx.http_url, content=body, headers=PB)


async def test_a_large_json_body_is_parsed_off_the_event_loop() -> None:
    doc = _json_body()
    records = doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"]  # type: ignore[index]
    records.extend([dict(records[0], body={"stringValue": "y" * 300}) for _ in range(399)])
    body = json.dumps(doc).encode()
    assert len(body) > 128 * 1024
    async with running_receivers(http_limit=1 << 20) as rx, httpx.AsyncClient() as client:
        resp = await client.post(rx.http_url, content=body, headers=JS)
        assert resp.status_code == 200, resp.text
        assert rx.sink.records == 400


async def test_a_client_that_goes_away_mid_body_is_counted_and_serving_goes_on() -> None:
    async with running_receivers() as rx, httpx.AsyncClient() as client:
        assert rx.http.bound_port is not None
        _reader, writer = await asyncio.open_connection("127.0.0.1", rx.http.bound_port)
        writer.write(
            b"POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            b"Content-Length: 10000\r\n\r\n" + b"\x0a" * 100
        )
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.close()
        await writer.wait_closed()
        for _ in range(50):
            if rx.refused_requests("http", "malformed") == 1:
                break
            await asyncio.sleep(0.05)
        assert rx.refused_requests("http", "malformed") == 1
        await _ok(client, rx.http_url)
