"""The stock OpenTelemetry Python SDK (no otel_sdk_ext): stdlib ``logging`` through
``LoggingHandler`` and the Logs API, ``BatchLogRecordProcessor``, the stock OTLP
exporter over gRPC and over HTTP/protobuf, into a real ``tasklogs serve``. What the SDK
exported (its own in-memory copy) is compared field by field with the history API and
with the ``otel_logs`` table.
"""

from __future__ import annotations

import json
import subprocess
import sys
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

PRODUCER = Path(__file__).with_name("py_producer.py")
LINES = 200
PROTOCOLS = ("grpc", "http")


@dataclass
class Delivered:
    sent: list[Expected]
    api: list[dict[str, Any]]
    table: list[dict[str, Any]]


@pytest.fixture(scope="module")
def delivered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Delivered]:
    root = tmp_path_factory.mktemp("python-sdk")
    svc = start_tasklogs(root)
    runs: dict[str, tuple[str, list[Expected], list[dict[str, Any]]]] = {}
    try:
        for protocol in PROTOCOLS:
            trid = f"tr-{uuid.uuid4()}"
            endpoint = svc.grpc_target if protocol == "grpc" else svc.http_url
            out = root / f"{protocol}.json"
            proc = subprocess.run(
                [sys.executable, str(PRODUCER), protocol, endpoint, trid, str(LINES), str(out)],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert proc.returncode == 0, proc.stdout + proc.stderr
            assert "Traceback" not in proc.stderr, proc.stderr  # the exporter never failed
            dump = json.loads(out.read_text(encoding="utf-8"))
            sent = sorted((expected_from_dump(d) for d in dump), key=lambda e: e.time_ns)
            runs[protocol] = (trid, sent, svc.service.wait_for(trid, len(sent), timeout=30))
    finally:
        svc.service.stop()
    table = read_table(svc.service.data_dir, *(trid for trid, _, _ in runs.values()))
    return {p: Delivered(sent, api, table[trid]) for p, (trid, sent, api) in runs.items()}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_api_returns_the_core_fields(delivered: dict[str, Delivered], protocol: str) -> None:
    d = delivered[protocol]
    assert len(d.sent) == LINES + 4
    assert_fields([api_view(r) for r in d.api], d.sent, CORE, f"history API ({protocol})")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_api_returns_what_the_table_holds(delivered: dict[str, Delivered], protocol: str) -> None:
    d = delivered[protocol]
    assert_fields([api_view(r) for r in d.api], d.sent, TABLE_ONLY, f"history API ({protocol})")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_table_holds_every_field_it_has_a_column_for(
    delivered: dict[str, Delivered], protocol: str
) -> None:
    d = delivered[protocol]
    rows = [table_view(r) for r in d.table]
    assert_fields(rows, d.sent, CORE + TABLE_ONLY, f"otel_logs ({protocol})")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_observed_time_survives(delivered: dict[str, Delivered], protocol: str) -> None:
    d = delivered[protocol]
    assert_fields([table_view(r) for r in d.table], d.sent, NOWHERE, f"otel_logs ({protocol})")
    assert_fields([api_view(r) for r in d.api], d.sent, NOWHERE, f"history API ({protocol})")
