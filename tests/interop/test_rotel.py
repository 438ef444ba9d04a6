"""rotel (PyPI ``rotel``: a Rust OpenTelemetry collector) as a peer: the stock Python SDK
sends to rotel's OTLP receiver, rotel forwards over OTLP (gRPC, or HTTP/protobuf) to a
real ``tasklogs serve``; what the SDK exported is compared field by field with the
history API and the ``otel_logs`` table.

rotel's known issues (measured earlier, see docs/ingest-collector.md): its forwarder
always compresses with gzip, a batch it splits loses its resource (so its task identity),
and it acknowledges before it exports, so records in flight are lost when it stops. The
test keeps every request below rotel's batch size and waits for tasklogs to hold every
record before it stops rotel.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass
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
from tests.interop.support import start_tasklogs, wait_until
from tests.support import free_port

pytestmark = pytest.mark.e2e

PRODUCER = Path(__file__).with_name("py_producer.py")
LINES = 200
PROTOCOLS = ("grpc", "http")


def _rotel_binary() -> Path:
    spec = importlib.util.find_spec("rotel")
    if spec is None or spec.origin is None:
        pytest.fail("rotel is not installed (make install installs the dev extras)")
    return Path(spec.origin).parent / "rotel-agent"


@dataclass
class Rotel:
    process: subprocess.Popen[bytes]
    grpc_port: int
    log_path: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _start_rotel(root: Path, protocol: str, target: str) -> Rotel:
    grpc_port, http_port = free_port(), free_port()
    log_path = root / f"rotel-{protocol}.log"
    args = [
        str(_rotel_binary()),
        "start",
        "--otlp-grpc-endpoint", f"127.0.0.1:{grpc_port}",
        "--otlp-http-endpoint", f"127.0.0.1:{http_port}",
        "--exporter", "otlp",
        "--otlp-exporter-endpoint", target,
        "--otlp-exporter-protocol", protocol,
        "--logs-batch-max-size", "8192",
        "--batch-timeout", "50ms",
    ]  # fmt: skip
    with log_path.open("ab") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    rotel = Rotel(proc, grpc_port, log_path)

    def listening() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"rotel exited with {proc.returncode}: {log_path.read_text()}")
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", grpc_port)) == 0

    wait_until(listening, 30, "rotel to listen")
    return rotel


@pytest.fixture(scope="module")
def delivered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Delivered]:
    root = tmp_path_factory.mktemp("rotel")
    svc = start_tasklogs(root)
    runs: dict[str, tuple[str, list[Expected], list[dict[str, Any]]]] = {}
    try:
        for protocol in PROTOCOLS:
            target = f"http://{svc.grpc_target}" if protocol == "grpc" else svc.http_url
            rotel = _start_rotel(root, protocol, target)
            try:
                trid = f"tr-{uuid.uuid4()}"
                out = root / f"{protocol}.json"
                endpoint = f"127.0.0.1:{rotel.grpc_port}"
                proc = subprocess.run(
                    [sys.executable, str(PRODUCER), "grpc", endpoint, trid, str(LINES), str(out)],
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                )
                assert proc.returncode == 0, proc.stdout + proc.stderr
                sent = sent_from_dump(out)
                runs[protocol] = (trid, sent, svc.service.wait_for(trid, len(sent), timeout=30))
            finally:
                rotel.stop()
    finally:
        svc.service.stop()
    return delivered_from(svc.service.data_dir, runs)


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_fields_survive(delivered: dict[str, Delivered], protocol: str, check: str) -> None:
    d = delivered[protocol]
    assert len(d.sent) == LINES + 4
    assert_delivered(d, check, f"rotel {protocol}")
