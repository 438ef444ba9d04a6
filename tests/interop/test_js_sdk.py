"""The OpenTelemetry JavaScript SDK from npm (``@opentelemetry/sdk-logs`` with
``exporter-logs-otlp-http`` (OTLP/JSON), ``-proto`` (protobuf over HTTP) and ``-grpc``),
run by node (``tests/interop/js/produce.mjs``) into a real ``tasklogs serve``. What the
SDK exported (its own in-memory copy) is compared field by field with the history API and
with the ``otel_logs`` table. ``npm ci`` runs first when ``node_modules`` is missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.interop.fields import (
    CORE,
    NOWHERE,
    TABLE_ONLY,
    Expected,
    api_view,
    assert_fields,
    expected_from_dump,
    read_table,
    table_view,
)
from tests.interop.support import start_tasklogs

pytestmark = pytest.mark.e2e

JS = Path(__file__).with_name("js")
LINES = 200
EXPORTERS = ("http", "proto", "grpc")


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is needed for the JavaScript SDK round trip")
    if not (JS / "node_modules" / "@opentelemetry" / "sdk-logs").exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is needed to install tests/interop/js (node_modules is missing)")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS, check=True, timeout=300)
    return node


@dataclass
class Delivered:
    sent: list[Expected]
    api: list[dict[str, Any]]
    table: list[dict[str, Any]]


@pytest.fixture(scope="module")
def delivered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Delivered]:
    node = _node()
    root = tmp_path_factory.mktemp("js-sdk")
    svc = start_tasklogs(root)
    runs: dict[str, tuple[str, list[Expected], list[dict[str, Any]]]] = {}
    try:
        for kind in EXPORTERS:
            trid = f"tr-{uuid.uuid4()}"
            endpoint = f"http://{svc.grpc_target}" if kind == "grpc" else svc.http_url
            out = root / f"{kind}.json"
            proc = subprocess.run(
                [node, "produce.mjs", kind, endpoint, trid, str(LINES), str(out)],
                cwd=JS,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert proc.returncode == 0, proc.stdout + proc.stderr
            dump = json.loads(out.read_text(encoding="utf-8"))
            sent = sorted((expected_from_dump(d) for d in dump), key=lambda e: e.time_ns)
            runs[kind] = (trid, sent, svc.service.wait_for(trid, len(sent), timeout=30))
    finally:
        svc.service.stop()
    table = read_table(svc.service.data_dir, *(trid for trid, _, _ in runs.values()))
    return {k: Delivered(sent, api, table[trid]) for k, (trid, sent, api) in runs.items()}


@pytest.mark.parametrize("kind", EXPORTERS)
def test_api_returns_the_core_fields(delivered: dict[str, Delivered], kind: str) -> None:
    d = delivered[kind]
    assert len(d.sent) == LINES + 3
    assert_fields([api_view(r) for r in d.api], d.sent, CORE, f"history API ({kind})")


@pytest.mark.parametrize("kind", EXPORTERS)
def test_api_returns_what_the_table_holds(delivered: dict[str, Delivered], kind: str) -> None:
    d = delivered[kind]
    assert_fields([api_view(r) for r in d.api], d.sent, TABLE_ONLY, f"history API ({kind})")


@pytest.mark.parametrize("kind", EXPORTERS)
def test_table_holds_every_field_it_has_a_column_for(
    delivered: dict[str, Delivered], kind: str
) -> None:
    d = delivered[kind]
    rows = [table_view(r) for r in d.table]
    assert_fields(rows, d.sent, CORE + TABLE_ONLY, f"otel_logs ({kind})")


@pytest.mark.parametrize("kind", EXPORTERS)
def test_observed_time_survives(delivered: dict[str, Delivered], kind: str) -> None:
    d = delivered[kind]
    assert_fields([table_view(r) for r in d.table], d.sent, NOWHERE, f"otel_logs ({kind})")
    assert_fields([api_view(r) for r in d.api], d.sent, NOWHERE, f"history API ({kind})")
