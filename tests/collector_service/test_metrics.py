"""/metrics, /healthz and /readyz of a real Service (API and both receivers on sockets)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel, ConfigDict

from collector_service.component.exporter import Exporter, ExporterContext
from collector_service.component.model import LogBatch
from collector_service.errors import RetryableExportError
from collector_service.service.config import Config
from collector_service.service.lifecycle import Service
from tests.collector_service.receiver_support import make_request
from tests.support import free_port


class _MemoryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _MemoryExporter:
    def __init__(self) -> None:
        self.batches: list[LogBatch] = []
        self.pushed = threading.Event()
        #: While set, pushes fail as a store that is down would.
        self.refusing = threading.Event()

    def start(self) -> None:
        pass

    def push(self, batch: LogBatch) -> None:
        if self.refusing.is_set():
            raise RetryableExportError("the store is down (test)")
        self.batches.append(batch)
        self.pushed.set()

    def shutdown(self) -> None:
        pass


class _MemoryFactory:
    type_name = "memory"
    config_model: type[BaseModel] = _MemoryConfig

    def __init__(self) -> None:
        self.exporter = _MemoryExporter()

    def create(self, config: BaseModel, context: ExporterContext) -> Exporter:
        return self.exporter


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[tuple[Service, _MemoryFactory]]:
    factory = _MemoryFactory()
    grpc_port, http_port, api_port = free_port(), free_port(), free_port()
    config = Config.model_validate(
        {
            "data_dir": str(tmp_path),
            "receivers": {
                "otlp/metrics": {
                    "protocols": {
                        "grpc": {"endpoint": f"127.0.0.1:{grpc_port}"},
                        "http": {"endpoint": f"127.0.0.1:{http_port}"},
                    }
                }
            },
            "exporters": {"memory": {"batch": {"timeout_ms": 10}}},
            "service": {
                "pipelines": {"logs": {"receivers": ["otlp/metrics"], "exporters": ["memory"]}}
            },
            "api": {"endpoint": f"127.0.0.1:{api_port}"},
        }
    )
    svc = Service(config, factories={"memory": factory})
    await svc.start()
    try:
        yield svc, factory
    finally:
        await svc.stop(timeout=5)


def _sample(text: str, line_prefix: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_prefix):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_move_with_receiver_traffic(
    service: tuple[Service, _MemoryFactory],
) -> None:
    svc, factory = service
    api = f"http://{svc.config.api.endpoint}"
    protocols = svc.config.receivers["otlp/metrics"].protocols
    assert protocols.http is not None
    logs_url = f"http://{protocols.http.endpoint}/v1/logs"
    accepted = (
        'tasklogs_receiver_accepted_log_records_total{receiver="otlp/metrics",transport="http"}'
    )
    malformed = (
        "tasklogs_receiver_refused_requests_total"
        '{reason="malformed",receiver="otlp/metrics",transport="http"}'
    )
    async with httpx.AsyncClient() as client:
        resp = await client.get(f"{api}/metrics")
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
        before = _sample(resp.text, accepted)

        body = make_request(["tr-m"], per_resource=7).SerializeToString()
        headers = {"Content-Type": "application/x-protobuf"}
        assert (await client.post(logs_url, content=body, headers=headers)).status_code == 200
        bad = await client.post(logs_url, content=b"\xff\xff\xff", headers=headers)
        assert bad.status_code == 400

        text = (await client.get(f"{api}/metrics")).text
        assert _sample(text, accepted) - before == 7
        assert _sample(text, malformed) == 1
        count = (
            "tasklogs_receiver_export_duration_seconds_count"
            '{receiver="otlp/metrics",transport="http"}'
        )
        assert _sample(text, count) == 2  # the refused request is timed too
        # The exporter-side families are served from the same registry.
        assert "# TYPE tasklogs_exporter_sent_log_records_total counter" in text
    # The batch flushes on the event loop: wait off it (a blocking wait would stall it).
    assert await asyncio.to_thread(factory.exporter.pushed.wait, 5)
    assert sum(len(b) for b in factory.exporter.batches) == 7


async def test_health_and_readiness_follow_the_service(
    service: tuple[Service, _MemoryFactory],
) -> None:
    svc, _ = service
    api = f"http://{svc.config.api.endpoint}"
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{api}/healthz")).status_code == 200
        assert (await client.get(f"{api}/readyz")).status_code == 200
        assert svc.ready()
        await svc.stop(timeout=5)
        assert not svc.ready()
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{api}/healthz")


async def test_not_ready_while_an_exporter_cannot_write(
    service: tuple[Service, _MemoryFactory],
) -> None:
    svc, factory = service
    api = f"http://{svc.config.api.endpoint}"
    protocols = svc.config.receivers["otlp/metrics"].protocols
    assert protocols.http is not None
    logs_url = f"http://{protocols.http.endpoint}/v1/logs"
    factory.exporter.refusing.set()
    body = make_request(["tr-ready"], per_resource=3).SerializeToString()

    async def readyz_until(code: int) -> None:
        for _ in range(200):
            if (await client.get(f"{api}/readyz")).status_code == code:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"/readyz never answered {code}: {svc.not_ready()}")

    async with httpx.AsyncClient() as client:
        headers = {"Content-Type": "application/x-protobuf"}
        assert (await client.post(logs_url, content=body, headers=headers)).status_code == 200
        await readyz_until(503)
        assert any("exporter memory cannot write" in r for r in svc.not_ready())
        factory.exporter.refusing.clear()  # the store is back: the retry lands
        await readyz_until(200)
    assert sum(len(b) for b in factory.exporter.batches) == 3
