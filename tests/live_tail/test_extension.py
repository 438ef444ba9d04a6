"""The live tail as an extension: its bus from the host's Redis config, its routes and
metrics on the host, its publisher contributed and wired to its bus through the host."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector_service.component.exporter import ExporterContext
from collector_service.component.extension import (
    ExtensionContext,
    ExtensionSpec,
    load_extension_factories,
)
from collector_service.service.host import ServiceHost
from collector_service.stream.config import RedisConfig
from live_tail import metrics
from live_tail.config import LiveTailConfig
from live_tail.exporter import LiveTailExporter, LiveTailExporterConfig
from live_tail.exporter import factory as exporter_factory
from live_tail.extension import LiveTailExtension
from live_tail.memory_bus import MemoryBus
from live_tail.redis_bus import RedisBus
from tests.live_tail.support import make_batch
from tests.support import free_port


def _extension(tmp_path: Path, **cfg: object) -> LiveTailExtension:
    found = load_extension_factories()["live_tail"]
    ext = found.create(LiveTailConfig.model_validate(cfg), ExtensionContext("live_tail", tmp_path))
    assert isinstance(ext, LiveTailExtension)
    return ext


async def _started(host: ServiceHost, **cfg: object) -> LiveTailExtension:
    found = load_extension_factories()["live_tail"]
    (ext,) = host.create_extensions([ExtensionSpec(found, LiveTailConfig.model_validate(cfg))])
    await host.start_extensions()
    assert host.extension("live_tail") is ext
    assert isinstance(ext, LiveTailExtension)
    return ext


async def test_in_process_bus_routes_metrics_and_the_publisher(tmp_path: Path) -> None:
    host = ServiceHost(data_dir=tmp_path)
    ext = await _started(host, stream_maxlen=500)
    try:
        assert isinstance(ext.bus, MemoryBus)
        paths = {getattr(r, "path", "") for router in host.routers for r in router.routes}
        assert "/api/v1/tasks/{task_run_id}/logs/stream" in paths
        assert "/api/v1/auth/stream-token" in paths
        dropped = "tasklogs_live_tail_publish_dropped_log_records_total"
        assert host.metrics.get_sample_value(dropped) == metrics.REGISTRY.get_sample_value(dropped)
        assert host.metrics.get_sample_value(dropped) is not None
        publisher = exporter_factory.create(
            LiveTailExporterConfig(), ExporterContext("live_tail", tmp_path, host)
        )
        assert isinstance(publisher, LiveTailExporter)
        assert await ext.bus.task_info("tr-ext") is None
        publisher.push(make_batch("tr-ext", range(1, 4)))
        assert await ext.bus.task_info("tr-ext") is not None  # on the extension's bus
    finally:
        await host.shutdown_extensions()
    assert host.extension("live_tail") is None


def test_the_publisher_is_contributed_with_the_linger(tmp_path: Path) -> None:
    (contribution,) = _extension(tmp_path, publish_linger_ms=9).default_exporters()
    assert contribution.factory is exporter_factory
    assert contribution.section == {"batch": {"timeout_ms": 9}}
    assert _extension(tmp_path, enabled=False).default_exporters() == ()


async def test_redis_bus_from_the_host_and_unreachable_redis_is_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    redis = RedisConfig(url=f"redis://127.0.0.1:{free_port()}/0", key_prefix="tltest-none")
    host = ServiceHost(data_dir=tmp_path, redis=redis)
    ext = await _started(host)
    try:
        assert isinstance(ext.bus, RedisBus)
        assert ext.bus.key_prefix == "tltest-none"
        assert "Redis does not answer yet" in caplog.text
    finally:
        await host.shutdown_extensions()
