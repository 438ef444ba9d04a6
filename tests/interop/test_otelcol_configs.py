"""The shipped Collector configs load in a real ``otelcol-contrib`` (v0.135).

``deploy/otelcol/filelog-agent.yaml`` needs only what the PyPI binary has and loads
whole. ``otel-collector-config.yaml`` is for the full contrib distribution (its OTLP
receiver and bearertokenauth / health_check extensions are not in this build): the part
this binary has (processors, the otlphttp exporter with its retry and queue settings)
is loaded, and run against a real ``tasklogs serve`` behind the agent's filelog receiver.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.interop.support import Otelcol, otelcol_binary, start_tasklogs
from tests.interop.test_otelcol_filelog import AGENT, task_file
from tests.interop.test_otelcol_k8s import PODS
from tests.support import REPO

pytestmark = pytest.mark.e2e

FORWARDER = REPO / "otel-collector-config.yaml"
#: What the forwarder config uses that this build lacks (all in the contrib distribution).
NOT_IN_THIS_BUILD = {
    ("receivers", "otlp"),
    ("extensions", "bearertokenauth/tasklogs"),
    ("extensions", "health_check"),
}


def _components() -> dict[str, set[str]]:
    out = subprocess.run(
        [str(otelcol_binary()), "components"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    doc = yaml.safe_load(out.stdout)
    kinds = ("receivers", "processors", "exporters", "extensions", "connectors")
    return {kind: {c["name"] for c in doc.get(kind) or []} for kind in kinds}


def _validate(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(otelcol_binary()), "validate", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _trim(config: dict[str, Any], have: dict[str, set[str]]) -> set[tuple[str, str]]:
    """Drop the components this build lacks (and references to them); return them."""
    dropped: set[tuple[str, str]] = set()
    for kind in ("receivers", "processors", "exporters", "extensions", "connectors"):
        for cid in list(config.get(kind) or {}):
            if cid.split("/")[0] not in have[kind]:
                del config[kind][cid]
                dropped.add((kind, cid))
    gone = {cid for _, cid in dropped}
    service = config["service"]
    service["extensions"] = [e for e in service.get("extensions", []) if e not in gone]
    for exporter in config.get("exporters", {}).values():
        if (exporter.get("auth") or {}).get("authenticator") in gone:
            del exporter["auth"]
    for pipeline in service["pipelines"].values():
        for kind in ("receivers", "processors", "exporters"):
            pipeline[kind] = [c for c in pipeline.get(kind, []) if c not in gone]
    return dropped


@pytest.mark.parametrize("config", [AGENT, PODS], ids=lambda p: p.name)
def test_the_agent_configs_load_whole(config: Path) -> None:
    result = _validate(config)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_forwarder_config_loads_what_this_build_has(tmp_path: Path) -> None:
    config = yaml.safe_load(FORWARDER.read_text(encoding="utf-8"))
    dropped = _trim(config, _components())
    assert dropped == NOT_IN_THIS_BUILD  # everything else must load here
    # A pipeline needs a receiver: the agent's filelog receiver stands in for OTLP.
    agent = yaml.safe_load(AGENT.read_text(encoding="utf-8"))
    config["receivers"] = agent["receivers"]
    config["service"]["pipelines"]["logs"]["receivers"] = list(agent["receivers"])
    trimmed = tmp_path / "forwarder-trimmed.yaml"
    trimmed.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = _validate(trimmed)
    assert result.returncode == 0, result.stdout + result.stderr

    # And it forwards: the forwarder's exporter settings against a real tasklogs.
    svc = start_tasklogs(tmp_path)
    log_dir = tmp_path / "tasks"
    trid = f"tr-{uuid.uuid4()}"
    with task_file(log_dir, trid).open("w", encoding="utf-8") as f:
        f.writelines(f"forwarded {i}\n" for i in range(1, 501))
    env = {"TASKLOGS_LOG_DIR": str(log_dir), "TASKLOGS_OTLP_HTTP": svc.http_url}
    col = Otelcol.start(trimmed, tmp_path / "otelcol.log", env=env)
    try:
        records = svc.service.wait_for(trid, 500, timeout=60)
    finally:
        col.stop()
        svc.service.stop()
    assert [r["body"] for r in records] == [f"forwarded {i}" for i in range(1, 501)]
