from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from collector_service.component.config import parse_duration
from collector_service.component.exporter import ExporterFactory, load_factories
from collector_service.errors import ConfigError
from collector_service.pipeline.config import split_exporter_config
from collector_service.service.config import Config, load_config
from collector_service.service.lifecycle import Service
from tasklogs_clickhouse import ClickHouseConfig


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_the_embedded_setup(tmp_path: Path) -> None:
    config = load_config(None, data_dir=tmp_path)
    assert config.data_dir == tmp_path
    assert config.pipeline_exporters() == ["clickhouse"]
    assert config.receivers["otlp"].protocols.grpc is not None
    assert config.receivers["otlp"].protocols.grpc.endpoint == "127.0.0.1:4317"


def test_collector_shaped_yaml(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
receivers:
  otlp: {protocols: {grpc: {endpoint: "0.0.0.0:5317"}}}
exporters:
  clickhouse/main: {table: logs, ttl: 168h, batch: {timeout_ms: 10}}
service:
  pipelines:
    logs: {receivers: [otlp], exporters: [clickhouse/main]}
""",
    )
    config = load_config(path)
    assert config.pipeline_exporters() == ["clickhouse/main"]
    own, helper = split_exporter_config(
        "clickhouse/main", config.exporters["clickhouse/main"], ClickHouseConfig
    )
    assert isinstance(own, ClickHouseConfig)
    assert own.ttl == timedelta(hours=168)
    assert helper.batch.timeout_ms == 10


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("recievers: {}\n", "recievers"),
        ("api: {endpoint: nope}\n", "api.endpoint"),
        (
            "service: {pipelines: {logs: {receivers: [otlp], exporters: [missing]}}}\n",
            "exporter 'missing' is not configured",
        ),
        ("receivers: {kafka: {}}\n", "only the 'otlp' receiver"),
        ("- a list\n", "top level must be a mapping"),
        ("a: [unclosed\n", "not valid YAML"),
    ],
)
def test_invalid_config_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.yaml")


def test_exporter_keys_are_validated_before_any_io(tmp_path: Path) -> None:
    config = Config.model_validate(
        {"data_dir": str(tmp_path), "exporters": {"clickhouse": {"tabel": "x"}}}
    )
    with pytest.raises(ConfigError, match=r"exporters\.clickhouse\.tabel"):
        Service(config)
    assert not (tmp_path / "chdb").exists()


def test_bad_identifier_is_rejected(tmp_path: Path) -> None:
    config = Config.model_validate(
        {"data_dir": str(tmp_path), "exporters": {"clickhouse": {"table": "logs; DROP"}}}
    )
    with pytest.raises(ConfigError, match=r"exporters\.clickhouse\.table"):
        Service(config)


def test_unknown_exporter_type_names_the_key(tmp_path: Path) -> None:
    config = Config.model_validate(
        {
            "data_dir": str(tmp_path),
            "exporters": {"kafka": {}},
            "service": {"pipelines": {"logs": {"receivers": ["otlp"], "exporters": ["kafka"]}}},
        }
    )
    with pytest.raises(ConfigError, match=r"exporters\.kafka: unknown exporter type 'kafka'"):
        Service(config)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("168h", 604800), ("1h30m", 5400), ("90s", 90), ("7d", 604800), ("250ms", 0.25), (60, 60)],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "1x", "h", "1h 2m", "-5s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_clickhouse_plugin_is_found_through_its_entry_point() -> None:
    factories = load_factories()
    assert isinstance(factories["clickhouse"], ExporterFactory)
    assert factories["clickhouse"].config_model is ClickHouseConfig
