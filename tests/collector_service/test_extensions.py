"""The extension seam: plugins loaded and checked, sections validated before any I/O,
start/stop order, what an extension adds to the host (routes, metrics, readiness,
exporters), and a core that imports no plugin."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from prometheus_client import CollectorRegistry, Counter
from pydantic import BaseModel, ConfigDict

import collector_service
from collector_service.component import plugin
from collector_service.component.exporter import (
    Exporter,
    ExporterContext,
    ExporterSpec,
    load_factories,
)
from collector_service.component.extension import (
    ExporterContribution,
    ExtensionContext,
    Host,
    load_extension_factories,
    resolve_extensions,
)
from collector_service.component.model import LogBatch
from collector_service.component.store import HistoryPage, HistoryQuery
from collector_service.errors import ConfigError
from collector_service.pipeline.config import ExporterHelperConfig
from collector_service.service.config import Config, load_config
from collector_service.service.host import ServiceHost
from collector_service.service.lifecycle import Service
from tests.support import free_port

EVENTS: list[str] = []


class _ProbeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    greeting: str = "hello"
    contribute: bool = True


class _ProbeExporterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _ProbeExporter:
    def __init__(self, extension: _Probe | None) -> None:
        self.extension = extension

    def start(self) -> None:
        EVENTS.append("exporter start")

    def push(self, batch: LogBatch) -> None:
        pass

    def shutdown(self) -> None:
        EVENTS.append("exporter shutdown")


class _ProbeExporterFactory:
    type_name = "probe_out"
    config_model: type[BaseModel] = _ProbeExporterConfig

    def __init__(self) -> None:
        self.contexts: list[ExporterContext] = []
        self.exporters: list[_ProbeExporter] = []

    def create(self, config: BaseModel, context: ExporterContext) -> Exporter:
        self.contexts.append(context)
        found = context.host.extension("probe") if context.host is not None else None
        exporter = _ProbeExporter(found if isinstance(found, _Probe) else None)
        self.exporters.append(exporter)
        return exporter


class _Probe:
    def __init__(self, config: _ProbeConfig, exporters: _ProbeExporterFactory) -> None:
        self.config = config
        self.exporters = exporters
        self.registry = CollectorRegistry()
        Counter("tasklogs_probe_things", "Things.", registry=self.registry).inc(3)
        self.reasons: list[str] = []

    def default_exporters(self) -> Sequence[ExporterContribution]:
        if not self.config.contribute:
            return ()
        return (ExporterContribution(self.exporters, {"batch": {"timeout_ms": 7}}),)

    async def start(self, host: Host) -> None:
        EVENTS.append("extension start")
        router = APIRouter()

        @router.get("/api/v1/probe")
        async def probe() -> dict[str, str]:
            return {"greeting": self.config.greeting}

        host.add_router(router)
        host.add_metrics(self.registry)
        host.add_readiness_check(lambda: self.reasons)

    def draining(self) -> None:
        EVENTS.append("extension draining")

    async def shutdown(self) -> None:
        EVENTS.append("extension shutdown")


class _ProbeFactory:
    type_name = "probe"
    config_model: type[BaseModel] = _ProbeConfig

    def __init__(self) -> None:
        self.exporters = _ProbeExporterFactory()
        self.created: list[_Probe] = []

    def create(self, config: BaseModel, context: ExtensionContext) -> _Probe:
        assert isinstance(config, _ProbeConfig)
        probe = _Probe(config, self.exporters)
        self.created.append(probe)
        return probe


def _config(tmp_path: Path, **extra: Any) -> Config:
    api = free_port()
    return Config.model_validate(
        {
            "data_dir": str(tmp_path),
            "receivers": {
                "otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{free_port()}"}}}
            },
            "exporters": {"probe_out/mine": {}},
            "service": {
                "pipelines": {"logs": {"receivers": ["otlp"], "exporters": ["probe_out/mine"]}}
            },
            "api": {"endpoint": f"127.0.0.1:{api}"},
            **extra,
        }
    )


def test_unknown_extension_type_is_named_before_any_io(tmp_path: Path) -> None:
    config = Config.model_validate(
        {"data_dir": str(tmp_path / "d"), "extensions": {"nope": {"x": 1}}}
    )
    with pytest.raises(ConfigError, match=r"extensions\.nope: unknown extension type 'nope'"):
        Service(config)
    assert not (tmp_path / "d").exists()


def test_extension_sections_are_validated_by_their_model(tmp_path: Path) -> None:
    factory = _ProbeFactory()
    with pytest.raises(ConfigError, match=r"extensions\.probe\.greting"):
        resolve_extensions({"probe": {"greting": "hi"}}, {"probe": factory})
    # The live tail's own model, through its entry point.
    config = Config.model_validate(
        {"data_dir": str(tmp_path), "extensions": {"live_tail": {"heartbeat_s": -1}}}
    )
    with pytest.raises(ConfigError, match=r"extensions\.live_tail\.heartbeat_s"):
        Service(config)


def test_every_installed_extension_runs_with_its_defaults() -> None:
    specs = resolve_extensions({}, {"probe": _ProbeFactory()})
    assert [s.type_name for s in specs] == ["probe"]
    assert specs[0].config == _ProbeConfig()
    assert "live_tail" in load_extension_factories()


class _FakeEntryPoint:
    def __init__(self, name: str, target: object) -> None:
        self.name = name
        self.value = f"fake:{name}"
        self._target = target

    def load(self) -> object:
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


class _NotAFactory:
    type_name = "bad"


class _Mismatch(_ProbeFactory):
    type_name = "other"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (ImportError("no module named x"), "failed to load: no module named x"),
        (_NotAFactory(), "is not a"),
        (_Mismatch(), "declares type_name 'other'; they must match"),
    ],
)
@pytest.mark.parametrize("group", ["exporter", "extension"])
def test_both_plugin_groups_are_checked_alike(
    monkeypatch: pytest.MonkeyPatch, target: object, message: str, group: str
) -> None:
    name = "bad" if not isinstance(target, _Mismatch) else "probe"
    monkeypatch.setattr(plugin, "entry_points", lambda group: [_FakeEntryPoint(name, target)])
    load = load_factories if group == "exporter" else load_extension_factories
    with pytest.raises(ConfigError, match=f"{group} plugin {name!r}.*{re.escape(message)}"):
        load()


async def test_extension_order_routes_metrics_readiness_and_exporters(tmp_path: Path) -> None:
    EVENTS.clear()
    factory = _ProbeFactory()
    outs = factory.exporters
    svc = Service(
        _config(tmp_path, extensions={"probe": {"greeting": "hi"}}),
        factories={"probe_out": outs},
        extensions={"probe": factory},
    )
    # One exporter of the contributed type is configured (probe_out/mine): none is added.
    assert [s.component_id for s in svc._specs] == ["probe_out/mine"]
    await svc.start()
    try:
        api = f"http://{svc.config.api.endpoint}"
        async with httpx.AsyncClient(base_url=api) as client:
            assert (await client.get("/api/v1/probe")).json() == {"greeting": "hi"}
            assert "tasklogs_probe_things_total 3.0" in (await client.get("/metrics")).text
            assert "tasklogs_receiver_accepted" in (await client.get("/metrics")).text
            assert (await client.get("/readyz")).json() == {"status": "ready"}
            factory.created[0].reasons.append("probe is sulking")
            resp = await client.get("/readyz")
            assert resp.status_code == 503
            assert resp.json() == {"status": "not ready", "reasons": ["probe is sulking"]}
    finally:
        await svc.stop(timeout=5)
    assert EVENTS == [
        "extension start",
        "exporter start",
        "extension draining",
        "exporter shutdown",
        "extension shutdown",
    ]
    # The exporter found the extension through the host in its context.
    assert outs.contexts[0].host is svc.host
    assert outs.exporters[0].extension is factory.created[0]


def test_an_extension_contributes_its_exporter_when_none_of_its_type_is_configured(
    tmp_path: Path,
) -> None:
    config = Config.model_validate({"data_dir": str(tmp_path), "exporters": {"clickhouse": {}}})
    factory = _ProbeFactory()
    svc = Service(config, extensions={"probe": factory})
    added = [s for s in svc._specs if s.component_id == "probe_out"]
    assert len(added) == 1
    assert added[0].helper.batch.timeout_ms == 7
    assert added[0].host is svc.host
    off = Service(
        config.model_copy(update={"extensions": {"probe": {"contribute": False}}}),
        extensions={"probe": _ProbeFactory()},
    )
    assert [s.component_id for s in off._specs] == ["clickhouse"]


def test_the_live_tail_publisher_is_contributed_by_its_extension(tmp_path: Path) -> None:
    config = Config.model_validate({"data_dir": str(tmp_path)})
    specs = Service(config)._specs
    live = [s for s in specs if s.component_id == "live_tail"]
    assert len(live) == 1
    assert live[0].helper.batch.timeout_ms == 0  # publish_linger_ms: no linger
    slower = config.model_copy(update={"extensions": {"live_tail": {"publish_linger_ms": 20}}})
    assert [s.helper.batch.timeout_ms for s in Service(slower)._specs][-1] == 20
    off = config.model_copy(update={"extensions": {"live_tail": {"enabled": False}}})
    assert [s.component_id for s in Service(off)._specs] == ["clickhouse"]


def test_the_live_tail_exporter_needs_its_extension(tmp_path: Path) -> None:
    live = load_factories()["live_tail"]
    assert getattr(live, "best_effort", False) is True
    host = ServiceHost(data_dir=tmp_path)
    with pytest.raises(ConfigError, match="needs the live_tail extension"):
        live.create(live.config_model(), ExporterContext("live_tail", tmp_path, host))
    with pytest.raises(ConfigError, match="needs the live_tail extension"):
        live.create(live.config_model(), ExporterContext("live_tail", tmp_path))


def test_the_core_imports_no_plugin() -> None:
    root = Path(collector_service.__file__).parent
    plugin_import = re.compile(
        r"^\s*(from|import)\s+(live_tail|tasklogs_clickhouse|tasklogs_postgres)\b", re.M
    )
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if plugin_import.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


class _Store(_ProbeExporter):
    def query(self, query: HistoryQuery) -> HistoryPage:
        return HistoryPage(records=[], next_cursor=None)


class _StoreFactory(_ProbeExporterFactory):
    type_name = "store"

    def create(self, config: BaseModel, context: ExporterContext) -> Exporter:
        return _Store(None)


def test_readers_start_the_history_store_only(tmp_path: Path) -> None:
    """The CLI and the standalone API start the store the host picks, and never need a
    best-effort exporter (the live publisher needs its extension, which readers lack)."""
    helper = ExporterHelperConfig()
    live = load_factories()["live_tail"]
    host = ServiceHost(data_dir=tmp_path)
    assert host.history_store() is None
    specs = [
        ExporterSpec("live_tail", live, live.config_model(), helper, host),
        ExporterSpec("store", _StoreFactory(), _ProbeExporterConfig(), helper, host),
    ]
    EVENTS.clear()
    store = host.start_history_store(specs)
    assert isinstance(store, _Store)
    assert host.history_store() is store
    host.stop_exporters()
    assert EVENTS == ["exporter start", "exporter shutdown"]


def test_extension_sections_take_environment_overrides(tmp_path: Path) -> None:
    env = {"TASKLOGS_EXTENSIONS__PROBE__GREETING": "from env"}
    config = load_config(None, data_dir=tmp_path, environ=env)
    specs = resolve_extensions(config.extensions, {"probe": _ProbeFactory()})
    assert specs[0].config == _ProbeConfig(greeting="from env")
