"""OTLP/HTTP from a real child process, chosen by the standard environment variables.

The first test uses a small in-test HTTP server that decodes ``ExportLogsServiceRequest``
and shows exactly what goes over the wire (path, bearer header, gzip), refusing the
first request with 503 so the retry is exercised too; the second sends to the real
`tasklogs serve` OTLP/HTTP receiver, authenticated as a tenant.
"""

from __future__ import annotations

import gzip
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from tests.otel_sdk_ext._proc import (
    child_env,
    new_run_id,
    ordered,
    run_python,
    wait_for_end,
)
from tests.support import serve_in

pytestmark = pytest.mark.e2e


@dataclass
class Received:
    requests: list[dict[str, Any]] = field(default_factory=list)
    refuse_first: bool = True


@pytest.fixture
def otlp_http() -> Iterator[tuple[str, Received]]:
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            if received.refuse_first:
                received.refuse_first = False
                self.send_response(503)
                self.end_headers()
                return
            body = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
            request = ExportLogsServiceRequest.FromString(body)
            lines = [
                (
                    {a.key: a.value.string_value for a in rl.resource.attributes},
                    rec.body.string_value,
                    {a.key: a.value for a in rec.attributes},
                )
                for rl in request.resource_logs
                for sl in rl.scope_logs
                for rec in sl.log_records
            ]
            received.requests.append(
                {
                    "path": self.path,
                    "authorization": self.headers.get("Authorization"),
                    "encoding": self.headers.get("Content-Encoding"),
                    "content_type": self.headers.get("Content-Type"),
                    "lines": lines,
                }
            )
            payload = ExportLogsServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_http_protobuf_with_bearer_token_and_gzip(otlp_http: tuple[str, Received]) -> None:
    url, received = otlp_http
    run_id = new_run_id("http")
    env = child_env(
        None,
        run_id,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_ENDPOINT=url,  # the generic one: /v1/logs is appended
        OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer%20s3cret,x-tenant=acme",
        OTEL_EXPORTER_OTLP_COMPRESSION="gzip",
        TASKLOGS_FLUSH_TIMEOUT_S="20",
    )
    proc = run_python(
        """
        import logging, otel_sdk_ext
        with otel_sdk_ext.task():
            print("over http")
            logging.getLogger("app").warning("a log record")
        """,
        env,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == b"over http\n"
    assert received.requests, "nothing arrived"
    for request in received.requests:
        assert request["path"] == "/v1/logs"
        assert request["authorization"] == "Bearer s3cret"
        assert request["encoding"] == "gzip"
        assert request["content_type"] == "application/x-protobuf"
    lines = sorted(
        (line for request in received.requests for line in request["lines"]),
        key=lambda line: line[2]["tasklogs.seq"].int_value,  # OTLP groups by scope
    )
    assert [body for _, body, _ in lines] == [
        "task started",
        "over http",
        "a log record",
        "task ended with exit code 0",
    ]
    assert [attrs["tasklogs.seq"].int_value for _, _, attrs in lines] == [1, 2, 3, 4]
    assert {resource["cicd.pipeline.task.run.id"] for resource, _, _ in lines} == {run_id}


def test_http_protobuf_against_the_real_receiver_with_a_tenant_token(tmp_path: Path) -> None:
    token = f"sdk-token-{uuid.uuid4().hex}"
    auth = f"""auth:
  tenants:
    acme: {{tokens: ["{token}"]}}
"""
    served = serve_in(tmp_path, auth, http="")
    service, http_port = served.svc, served.http_port
    try:
        run_id = new_run_id("http-real")
        env = child_env(
            None,
            run_id,
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{http_port}",
            OTEL_EXPORTER_OTLP_HEADERS=f"authorization=Bearer%20{token}",
            OTEL_EXPORTER_OTLP_COMPRESSION="gzip",
        )
        proc = run_python(
            """
            import otel_sdk_ext
            with otel_sdk_ext.task():
                print("over real http")
            """,
            env,
        )
        assert proc.returncode == 0, proc.stderr.decode()
        records = wait_for_end(service, run_id, token=token)
    finally:
        service.stop()
    assert [r["body"] for r in ordered(records)] == [
        "task started",
        "over real http",
        "task ended with exit code 0",
    ]
    assert {r["resource_attributes"]["tasklogs.tenant"] for r in records} == {"acme"}
