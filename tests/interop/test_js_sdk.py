"""The OpenTelemetry JavaScript SDK from npm (``@opentelemetry/sdk-logs`` with
``exporter-logs-otlp-http`` (OTLP/JSON), ``-proto`` (protobuf over HTTP) and ``-grpc``),
run by node (``tests/interop/js/produce.mjs``) into a real ``tasklogs serve``. What the
SDK exported (its own in-memory copy) is compared field by field with the history API and
with the ``otel_logs`` table. ``npm ci`` runs first when ``node_modules`` is missing.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.interop.fields import (
    CHECKS,
    Delivered,
    Expected,
    assert_delivered,
    delivered_from,
    sent_from_dump,
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
            sent = sent_from_dump(out)
            runs[kind] = (trid, sent, svc.service.wait_for(trid, len(sent), timeout=30))
    finally:
        svc.service.stop()
    return delivered_from(svc.service.data_dir, runs)


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("kind", EXPORTERS)
def test_fields_survive(delivered: dict[str, Delivered], kind: str, check: str) -> None:
    d = delivered[kind]
    assert len(d.sent) == LINES + 3
    assert_delivered(d, check, kind)
