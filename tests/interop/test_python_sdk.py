"""The stock OpenTelemetry Python SDK (no otel_sdk_ext): stdlib ``logging`` through
``LoggingHandler`` and the Logs API, ``BatchLogRecordProcessor``, the stock OTLP
exporter over gRPC and over HTTP/protobuf, into a real ``tasklogs serve``. What the SDK
exported (its own in-memory copy) is compared field by field with the history API and
with the ``otel_logs`` table.
"""

from __future__ import annotations

import subprocess
import sys
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

PRODUCER = Path(__file__).with_name("py_producer.py")
LINES = 200
PROTOCOLS = ("grpc", "http")


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
            sent = sent_from_dump(out)
            runs[protocol] = (trid, sent, svc.service.wait_for(trid, len(sent), timeout=30))
    finally:
        svc.service.stop()
    return delivered_from(svc.service.data_dir, runs)


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_fields_survive(delivered: dict[str, Delivered], protocol: str, check: str) -> None:
    d = delivered[protocol]
    assert len(d.sent) == LINES + 4
    assert_delivered(d, check, protocol)
