"""Receiver config, ``TASKLOGS_*`` environment overrides and ``${env:}``/``${file:}`` secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector_service.errors import ConfigError
from collector_service.service.config import load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_config_runs_both_protocols_listing_one_runs_only_that(tmp_path: Path) -> None:
    protocols = load_config(None, environ={}).receivers["otlp"].protocols
    assert protocols.grpc is not None
    assert protocols.grpc.endpoint == "127.0.0.1:4317"
    assert protocols.http is not None
    assert protocols.http.endpoint == "127.0.0.1:4318"
    assert protocols.http.cors.allowed_origins == []  # CORS off by default
    path = write(tmp_path, "receivers: {otlp: {protocols: {http: {max_request_body_size: 4096}}}}")
    protocols = load_config(path, environ={}).receivers["otlp"].protocols
    assert protocols.grpc is None
    assert protocols.http is not None
    assert protocols.http.max_request_body_size == 4096


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("receivers: {otlp: {protocols: {}}}", "no protocol configured"),
        ("receivers: {otlp: {protocols: {http: {endpoint: x}}}}", "http.endpoint"),
        ("receivers: {otlp: {protocols: {http: {max_size: 1}}}}", "http.max_size"),
        ("receivers: {otlp: {protocols: {http: {cors: {origins: [a]}}}}}", "cors.origins"),
        ("receivers: {otlp: {require_identity: true}}", "otlp.require_identity"),
        ("auth: {tenants: {a: {token: x}}}", r"auth\.tenants\.a\.token"),
    ],
)
def test_unknown_or_bad_keys_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text), environ={})


def test_env_overrides_follow_the_key_path(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
receivers:
  otlp: {protocols: {grpc: {endpoint: "127.0.0.1:1"}}}
exporters:
  clickhouse/main: {table: logs}
service:
  pipelines:
    logs: {receivers: [otlp], exporters: [clickhouse/main]}
""",
    )
    env = {
        "TASKLOGS_RECEIVERS__OTLP__PROTOCOLS__GRPC__ENDPOINT": "0.0.0.0:4317",
        "TASKLOGS_RECEIVERS__OTLP__PROTOCOLS__GRPC__MAX_RECV_MSG_SIZE_MIB": "32",
        "TASKLOGS_RECEIVERS__OTLP__PROTOCOLS__HTTP__CORS__ALLOWED_ORIGINS": "[https://a.example]",
        "TASKLOGS_RECEIVERS__OTLP__REQUIRE_TASK_IDENTITY": "true",
        "TASKLOGS_EXPORTERS__CLICKHOUSE_MAIN__TABLE": "other",
        "TASKLOGS_API__ENABLED": "false",
        # Not overrides: the CLI's and the SDK's own variables are left alone.
        "TASKLOGS_API_URL": "http://x",
        "TASKLOGS_TASK_RUN_ID": "tr",
    }
    config = load_config(path, environ=env)
    otlp = config.receivers["otlp"]
    assert otlp.protocols.grpc is not None
    assert otlp.protocols.grpc.endpoint == "0.0.0.0:4317"
    assert otlp.protocols.grpc.max_recv_msg_size_mib == 32
    assert otlp.protocols.http is not None
    assert otlp.protocols.http.cors.allowed_origins == ["https://a.example"]
    assert otlp.require_task_identity is True
    assert config.exporters["clickhouse/main"]["table"] == "other"
    assert config.api.enabled is False


def test_short_aliases() -> None:
    env = {
        "TASKLOGS_REDIS_URL": "redis://127.0.0.1:6379/0",
        "TASKLOGS_API_ENDPOINT": "127.0.0.1:9999",
        "TASKLOGS_GRPC_ENDPOINT": "127.0.0.1:5317",
        "TASKLOGS_HTTP_ENDPOINT": "127.0.0.1:5318",
    }
    config = load_config(None, environ=env)
    assert config.redis is not None
    assert config.redis.url == "redis://127.0.0.1:6379/0"
    assert config.api.endpoint == "127.0.0.1:9999"
    protocols = config.receivers["otlp"].protocols
    assert protocols.grpc is not None
    assert protocols.grpc.endpoint == "127.0.0.1:5317"
    assert protocols.http is not None
    assert protocols.http.endpoint == "127.0.0.1:5318"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TASKLOGS_API__ENDPONT": "x"}, r"api\.endpont: Extra inputs.*\(set by TASKLOGS_API__"),
        ({"TASKLOGS_API__ENDPOINT": "nope"}, r"api\.endpoint: .*\(set by TASKLOGS_API__ENDPOINT"),
        ({"TASKLOGS_BOGUS__KEY": "1"}, r"bogus: Extra inputs.*\(set by TASKLOGS_BOGUS__KEY\)"),
        ({"TASKLOGS_API__ENDPOINT__X": "1"}, r"api\.endpoint: .*set by TASKLOGS_API__ENDPOINT__X"),
        ({"TASKLOGS_API____X": "1"}, "empty key"),
        ({"TASKLOGS_API__ENABLED": "[unclosed"}, "TASKLOGS_API__ENABLED: not a valid YAML"),
    ],
)
def test_bad_env_overrides_name_the_variable_and_key(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, environ=env)


def test_override_below_a_scalar_names_the_variable(tmp_path: Path) -> None:
    path = write(tmp_path, 'api: {endpoint: "127.0.0.1:1"}\n')
    with pytest.raises(ConfigError, match=r"TASKLOGS_API__ENDPOINT__X: config key api\.endpoint"):
        load_config(path, environ={"TASKLOGS_API__ENDPOINT__X": "1"})


def test_secrets_from_env_and_files(tmp_path: Path) -> None:
    secret_file = tmp_path / "token"
    secret_file.write_text("from-file\n", encoding="utf-8")
    path = write(
        tmp_path,
        f"""
auth:
  tenants:
    acme: {{tokens: ["${{env:ACME_TOKEN}}", "${{file:{secret_file}}}"]}}
    globex: {{tokens: ["${{env:GLOBEX_TOKEN:-fallback}}", "lit$${{env:X}}"]}}
  signing_key: "${{env:SIGNING}}"
""",
    )
    config = load_config(path, environ={"ACME_TOKEN": "from-env", "SIGNING": "k"})
    tenants = config.auth.tenants
    assert [t.get_secret_value() for t in tenants["acme"].tokens] == ["from-env", "from-file"]
    assert [t.get_secret_value() for t in tenants["globex"].tokens] == [
        "fallback",
        "lit${env:X}",
    ]
    assert config.auth.signing_key is not None
    assert config.auth.signing_key.get_secret_value() == "k"
    # Secrets do not show in the config's repr.
    assert "from-env" not in repr(config)


def test_env_override_may_point_at_a_secret(tmp_path: Path) -> None:
    (tmp_path / "redis-url").write_text("redis://:pw@127.0.0.1:6379/0\n", encoding="utf-8")
    env = {"TASKLOGS_REDIS_URL": f"${{file:{tmp_path / 'redis-url'}}}"}
    config = load_config(None, environ=env)
    assert config.redis is not None
    assert config.redis.url == "redis://:pw@127.0.0.1:6379/0"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("${env:MISSING_VAR}", r"auth\.signing_key: environment variable MISSING_VAR is not set"),
        ("${file:/nonexistent/secret}", r"auth\.signing_key: cannot read secret file"),
        ("${env:bad-name}", "invalid environment variable name"),
    ],
)
def test_missing_secrets_name_the_key(tmp_path: Path, value: str, message: str) -> None:
    path = write(tmp_path, f'auth: {{signing_key: "{value}"}}\n')
    with pytest.raises(ConfigError, match=message):
        load_config(path, environ={})
