"""The config files shipped in the repository: deploy/tasklogs.yaml loads and validates;
otel-collector-config.yaml (for an upstream Collector, which is not run here) parses and
forwards to tasklogs' own OTLP endpoint with the token from bearertokenauth."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from collector_service.auth import Authenticator
from collector_service.pipeline.config import split_exporter_config
from collector_service.receivers.codec import ENCODINGS
from collector_service.receivers.config import HttpConfig
from collector_service.receivers.otlp_http import LOGS_PATH
from collector_service.service.config import load_config
from tasklogs_clickhouse import ClickHouseConfig
from tests.support import REPO


def test_deploy_example_config_is_valid(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "tasklogs-team-a-token").write_text("token-a\n", encoding="utf-8")
    (secrets / "tasklogs-team-b-tokens").write_text("# b\ntoken-b1\n", encoding="utf-8")
    text = (REPO / "deploy" / "tasklogs.yaml").read_text(encoding="utf-8")
    text = text.replace("/run/secrets", str(secrets)).replace("/var/lib/tasklogs", str(tmp_path))
    path = tmp_path / "tasklogs.yaml"
    path.write_text(text, encoding="utf-8")

    environ = {"TASKLOGS_TEAM_B_TOKEN": "token-b2"}
    config = load_config(path, environ=environ)
    otlp = config.receivers["otlp"]
    assert otlp.require_task_identity
    assert otlp.protocols.http is not None
    assert otlp.protocols.http.endpoint == "127.0.0.1:4318"
    own, _ = split_exporter_config("clickhouse", config.exporters["clickhouse"], ClickHouseConfig)
    assert isinstance(own, ClickHouseConfig)
    assert own.dsn == f"chdb://{tmp_path}/chdb"
    auth = Authenticator(config.auth, environ)
    assert [auth.tenant_for(t) for t in ("token-a", "token-b1", "token-b2", "x")] == [
        "team-a",
        "team-b",
        "team-b",
        None,
    ]


def _expand_default(value: str) -> str:
    """The Collector's ``${env:NAME:-default}`` with NAME unset."""
    return re.sub(r"\$\{env:[A-Z_]+:-([^}]*)\}", r"\1", value)


def test_upstream_collector_config_forwards_to_tasklogs_with_a_bearer_token() -> None:
    text = (REPO / "otel-collector-config.yaml").read_text(encoding="utf-8")
    doc: dict[str, Any] = yaml.safe_load(text)
    pipeline = doc["service"]["pipelines"]["logs"]
    (exporter_id,) = pipeline["exporters"]
    assert exporter_id.split("/")[0] == "otlphttp"
    exporter = doc["exporters"][exporter_id]

    # Our HTTP receiver: default port 4318; the otlphttp exporter appends /v1/logs.
    endpoint = _expand_default(exporter["endpoint"])
    assert endpoint.startswith("http://")
    assert endpoint.endswith(":" + HttpConfig().endpoint.rsplit(":", 1)[1])
    assert LOGS_PATH == "/v1/logs"
    assert exporter["encoding"] == "proto"
    assert exporter["compression"] in ENCODINGS
    assert exporter["retry_on_failure"]["enabled"] is True

    # The token comes from the bearertokenauth extension, itself from the environment.
    authenticator = exporter["auth"]["authenticator"]
    assert authenticator.split("/")[0] == "bearertokenauth"
    assert authenticator in doc["service"]["extensions"]
    assert doc["extensions"][authenticator]["token"] == "${env:TASKLOGS_TOKEN}"

    # Everything the pipeline names is defined.
    for kind in ("receivers", "processors", "exporters"):
        for component in pipeline[kind]:
            assert component in doc[kind], (kind, component)
    # The documented gRPC alternative points at the gRPC port.
    assert "tasklogs:4317" in text
