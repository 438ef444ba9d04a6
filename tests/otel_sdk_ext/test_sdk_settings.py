"""Settings: the standard OTLP variables and tasklogs' own."""

from __future__ import annotations

import pytest

from otel_sdk_ext._exporters import build_exporter
from otel_sdk_ext.errors import ConfigError
from otel_sdk_ext.settings import DEFAULT_HTTP_ENDPOINT, Settings


def test_defaults() -> None:
    s = Settings.from_env({})
    assert (s.protocol, s.endpoint, s.compression, dict(s.headers)) == (
        "grpc",
        "http://127.0.0.1:4317",
        "none",
        {},
    )
    assert s.schedule_delay_ms == 25
    assert s.flush_timeout_s == 5.0
    assert not s.capture_fds


def test_http_endpoints_follow_the_spec() -> None:
    assert Settings.from_env({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}).endpoint == (
        DEFAULT_HTTP_ENDPOINT
    )
    env = {
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/",
    }
    assert Settings.from_env(env).endpoint == "http://c:4318/v1/logs"
    env["OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"] = "http://logs:9/custom"
    assert Settings.from_env(env).endpoint == "http://logs:9/custom"
    env["OTEL_EXPORTER_OTLP_LOGS_PROTOCOL"] = "grpc"
    assert Settings.from_env(env).protocol == "grpc"


def test_headers_compression_timeout_and_tasklogs_variables() -> None:
    s = Settings.from_env(
        {
            "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20abc,x-a=1",
            "OTEL_EXPORTER_OTLP_LOGS_HEADERS": "x-a=2",
            "OTEL_EXPORTER_OTLP_COMPRESSION": "GZIP",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
            "TASKLOGS_FLUSH_TIMEOUT_S": "0.5",
            "TASKLOGS_LONG_LINES": "truncate",
            "TASKLOGS_CAPTURE_FDS": "1",
            "TASKLOGS_MAX_LINE_CHARS": "1000",
        },
        headers={"x-b": "3"},
    )
    assert dict(s.headers) == {"authorization": "Bearer abc", "x-a": "2", "x-b": "3"}
    assert s.compression == "gzip"
    assert s.export_timeout_s == 2.5
    assert s.flush_timeout_s == 0.5
    assert s.long_lines == "truncate"
    assert s.capture_fds
    assert s.max_line_chars == 1000


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "protocol"),
        ({"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, "compression"),
        ({"TASKLOGS_SCHEDULE_DELAY_MS": "0"}, "schedule_delay_ms"),
        ({"TASKLOGS_FLUSH_TIMEOUT_S": "soon"}, "TASKLOGS_FLUSH_TIMEOUT_S"),
        ({"TASKLOGS_LONG_LINES": "wrap"}, "long_lines"),
        ({"TASKLOGS_MAX_LINE_CHARS": "10"}, "max_line_chars"),
    ],
)
def test_bad_values_are_config_errors(env: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Settings.from_env(env)


def test_exporters_are_built_for_both_protocols() -> None:
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as Grpc
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as Http

    grpc_exporter = build_exporter(Settings.from_env({}, headers={"authorization": "Bearer t"}))
    assert isinstance(grpc_exporter, Grpc)
    assert ("authorization", "Bearer t") in tuple(grpc_exporter._headers or ())
    grpc_exporter.shutdown()
    http_exporter = build_exporter(Settings.from_env({}, protocol="http/protobuf"))
    assert isinstance(http_exporter, Http)
    http_exporter.shutdown()  # type: ignore[no-untyped-call]
