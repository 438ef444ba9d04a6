"""Records without a task identity: derived identity on every path, one warning per
producer (rate-limited, counted), and a rejection message that says what is missing."""

from __future__ import annotations

import logging

import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from collector_service.component.identity import IdentityWarner
from collector_service.metrics import REGISTRY
from collector_service.stream.entries import StreamEntry, decode_entries
from tests.collector_service.receiver_support import make_request, running_receivers

PB = {"Content-Type": "application/x-protobuf"}


def _kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _derived(receiver: str) -> float:
    value = REGISTRY.get_sample_value(
        "tasklogs_receiver_derived_identity_log_records_total", {"receiver": receiver}
    )
    return value or 0.0


def test_the_warner_warns_once_per_producer_and_counts_every_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    warner = IdentityWarner("otlp/w1", interval=60, clock=lambda: now[0])
    api = [_kv("service.name", "api"), _kv("service.instance.id", "pod-7")]
    with caplog.at_level(logging.WARNING, logger="collector_service.identity"):
        assert warner.note(api, 3)
        assert warner.note(api, 2)
        assert warner.note([_kv("host.name", "box")], 1)
        assert not warner.note([_kv("cicd.pipeline.task.run.id", "tr")], 5)
        now[0] = 61.0  # past the interval: a producer still without identity is told again
        assert warner.note(api, 1)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3
    assert "producer api@pod-7 sends log records without cicd.pipeline.task.run.id" in messages[0]
    assert "stored as task run 'api@pod-7'" in messages[0]
    assert "unknown_service@box" in messages[1]
    assert _derived("otlp/w1") == 7


def test_the_durable_path_derives_the_identity_too() -> None:
    # What a Redis stream consumer does with an entry: the same decoder, the same rule.
    payload = make_request([None], per_resource=2).SerializeToString()
    entry = StreamEntry(id="1-0", payload=payload, records=2, received_ns=0, tenant=None)
    batch, bad = decode_entries("ingest:0", [entry])
    assert bad == []
    assert {a["cicd.pipeline.task.run.id"] for a in batch.resource_attributes} == {"svc-0@default"}


async def test_the_receiver_accepts_identity_less_records_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with running_receivers() as rx, httpx.AsyncClient() as client:
        with caplog.at_level(logging.WARNING, logger="collector_service.identity"):
            for _ in range(3):
                body = make_request(["tr-1", None], per_resource=2).SerializeToString()
                resp = await client.post(rx.http_url, content=body, headers=PB)
                assert resp.status_code == 200
                assert not ExportLogsServiceResponse.FromString(resp.content).HasField(
                    "partial_success"
                )
        assert rx.sink.records == 12
        assert _derived(rx.receiver_id) == 6
        warnings = [r for r in caplog.records if "svc-1@default" in r.getMessage()]
        assert len(warnings) == 1


async def test_require_task_identity_says_what_is_missing() -> None:
    async with running_receivers(require_task_identity=True) as rx, httpx.AsyncClient() as c:
        body = make_request([None], per_resource=4).SerializeToString()
        resp = await c.post(rx.http_url, content=body, headers=PB)
        ps = ExportLogsServiceResponse.FromString(resp.content).partial_success
        assert ps.rejected_log_records == 4
        assert "no cicd.pipeline.task.run.id resource attribute" in ps.error_message
        assert "require_task_identity is on" in ps.error_message
