"""Ingress through a real `tasklogs serve`: both OTLP transports, auth, limits, metrics.

One service process for the module, configured with tenants (tokens from ``${env:}`` and
``${file:}``), ``require_task_identity``, small size limits and a small queue, with its
receiver endpoints set by ``TASKLOGS_*`` environment overrides (the file names a port
nothing listens on). Every error case is followed by a request that must still succeed.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import httpx
import pytest
import zstandard
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

from tests.collector_service.receiver_support import GRPC_METHOD, make_request
from tests.support import RunningService, free_port, start_serve, tasklogs_cmd

pytestmark = pytest.mark.e2e

ACME, GLOBEX = "acme-token-" + uuid.uuid4().hex, "globex-token-" + uuid.uuid4().hex
QUEUE = 40


@dataclass
class Ingress:
    service: RunningService
    http_url: str
    grpc_target: str

    def metric(self, name: str, **labels: str) -> float:
        text = httpx.get(f"{self.service.api_url}/metrics", timeout=10).text
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in text.splitlines():
            if line.startswith(name + "{"):
                label_text, _, value = line[len(name) + 1 :].rpartition("} ")
                got = ",".join(sorted(label_text.split(",")))
                if got == want:
                    return float(value)
        return 0.0

    def grpc_export(self, payload: bytes, token: str | None = ACME) -> ExportLogsServiceResponse:
        md = (("authorization", f"Bearer {token}"),) if token else ()
        with grpc.insecure_channel(
            self.grpc_target, options=[("grpc.max_send_message_length", 16 << 20)]
        ) as channel:
            data = channel.unary_unary(GRPC_METHOD)(payload, metadata=md, timeout=10)
        response: ExportLogsServiceResponse = ExportLogsServiceResponse.FromString(data)
        return response

    def http_export(
        self, body: bytes, token: str | None = ACME, ctype: str = "application/x-protobuf", **h: str
    ) -> httpx.Response:
        headers = {"Content-Type": ctype, **h}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.post(self.http_url, content=body, headers=headers, timeout=10)

    def still_serving(self) -> None:
        trid = f"tr-{uuid.uuid4()}"
        assert self.http_export(make_request([trid]).SerializeToString()).status_code == 200
        assert self.grpc_export(make_request([trid]).SerializeToString()) == (
            ExportLogsServiceResponse()
        )
        assert len(self.service.wait_for(trid, 4, token=ACME)) == 4


@pytest.fixture(scope="module")
def ingress(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingress]:
    tmp = tmp_path_factory.mktemp("ingress")
    grpc_port, http_port, api_port = free_port(), free_port(), free_port()
    (tmp / "globex.token").write_text(GLOBEX + "\n", encoding="utf-8")
    config = tmp / "tasklogs.yaml"
    config.write_text(
        f"""
receivers:
  otlp:
    require_task_identity: true
    protocols:
      grpc: {{endpoint: "127.0.0.1:1", max_recv_msg_size_mib: 1}}
      http: {{endpoint: "127.0.0.1:1", max_request_body_size: 65536}}
exporters:
  clickhouse:
    ttl: none  # the requests carry 2023 timestamps; the default 7-day TTL would drop them
    batch: {{timeout_ms: 50}}
    sending_queue: {{queue_size: {QUEUE}}}
service:
  pipelines:
    logs: {{receivers: [otlp], exporters: [clickhouse]}}
api: {{endpoint: "127.0.0.1:{api_port}"}}
auth:
  tenants:
    acme: {{tokens: ["${{env:E2E_ACME_TOKEN}}"]}}
    globex: {{tokens: ["${{file:{tmp / "globex.token"}}}"]}}
""",
        encoding="utf-8",
    )
    env = {
        "E2E_ACME_TOKEN": ACME,
        "TASKLOGS_RECEIVERS__OTLP__PROTOCOLS__GRPC__ENDPOINT": f"127.0.0.1:{grpc_port}",
        "TASKLOGS_HTTP_ENDPOINT": f"127.0.0.1:{http_port}",
    }
    svc = start_serve(
        config,
        tmp / "data",
        grpc_port=grpc_port,
        api_port=api_port,
        log_path=tmp / "serve.log",
        env=env,
    )
    yield Ingress(svc, f"http://127.0.0.1:{http_port}/v1/logs", f"127.0.0.1:{grpc_port}")
    assert svc.stop() < 15


def test_tenant_from_the_token_is_stamped_on_stored_records(ingress: Ingress) -> None:
    trid_http, trid_grpc = f"tr-{uuid.uuid4()}", f"tr-{uuid.uuid4()}"
    doc = {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [
                        {"key": "cicd.pipeline.task.run.id", "value": {"stringValue": trid_http}},
                        {"key": "tasklogs.tenant", "value": {"stringValue": "forged"}},
                    ]
                },
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": "1700000000000000001",
                                "body": {"stringValue": "json line"},
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "attributes": [{"key": "tasklogs.seq", "value": {"intValue": "1"}}],
                            }
                        ]
                    }
                ],
            }
        ]
    }
    body = zstandard.ZstdCompressor().compress(json.dumps(doc).encode())
    resp = ingress.http_export(body, ctype="application/json", **{"Content-Encoding": "zstd"})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {}
    trid_gzip = f"tr-{uuid.uuid4()}"
    payload = gzip.compress(make_request([trid_gzip], per_resource=3).SerializeToString())
    resp = ingress.http_export(payload, token=GLOBEX, **{"Content-Encoding": "gzip"})
    assert resp.status_code == 200, resp.text
    grpc_payload = make_request([trid_grpc], per_resource=3).SerializeToString()
    assert ingress.grpc_export(grpc_payload, token=GLOBEX) == ExportLogsServiceResponse()

    # The history API answers each tenant for its own tasks only.
    (rec,) = ingress.service.wait_for(trid_http, 1, token=ACME)
    assert rec["resource_attributes"]["tasklogs.tenant"] == "acme"
    assert rec["trace_id"] == "5b8efff798038103d269b633813fc60c"
    assert rec["span_id"] == "eee19b7ec3c1b174"
    assert rec["body"] == "json line"
    for trid in (trid_gzip, trid_grpc):
        records = ingress.service.wait_for(trid, 3, token=GLOBEX)
        assert len(records) == 3
        assert {r["resource_attributes"]["tasklogs.tenant"] for r in records} == {"globex"}


def test_bad_or_missing_tokens_are_refused_and_counted(ingress: Ingress) -> None:
    before_http = ingress.metric(
        "tasklogs_receiver_refused_requests_total",
        receiver="otlp",
        transport="http",
        reason="unauthenticated",
    )
    payload = make_request([f"tr-{uuid.uuid4()}"]).SerializeToString()
    for token in (None, "wrong"):
        assert ingress.http_export(payload, token=token).status_code == 401
        with pytest.raises(grpc.RpcError) as info:
            ingress.grpc_export(payload, token=token)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    after_http = ingress.metric(
        "tasklogs_receiver_refused_requests_total",
        receiver="otlp",
        transport="http",
        reason="unauthenticated",
    )
    assert after_http - before_http == 2
    assert (
        ingress.metric(
            "tasklogs_receiver_refused_requests_total",
            receiver="otlp",
            transport="grpc",
            reason="unauthenticated",
        )
        >= 2
    )
    ingress.still_serving()


def test_malformed_and_oversized_requests_get_clear_errors(ingress: Ingress) -> None:
    resp = ingress.http_export(b"\xff\xff\xff\xff\x0f")
    assert resp.status_code == 400
    resp = ingress.http_export(b'{"resourceLogs": [', ctype="application/json")
    assert resp.status_code == 400
    assert "malformed JSON" in resp.json()["message"]
    with pytest.raises(grpc.RpcError) as info:
        ingress.grpc_export(b"\xff\xff\xff\xff\x0f")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    big = make_request([f"tr-{uuid.uuid4()}"], per_resource=1, body="x" * (1200 * 1024))
    assert ingress.http_export(big.SerializeToString()).status_code == 413
    bomb = gzip.compress(b"\x00" * (20 << 20))
    assert ingress.http_export(bomb, **{"Content-Encoding": "gzip"}).status_code == 413
    with pytest.raises(grpc.RpcError) as info:
        ingress.grpc_export(big.SerializeToString())
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "max_recv_msg_size_mib" in (info.value.details() or "")
    for transport, reason, least in (
        ("http", "malformed", 2),
        ("grpc", "malformed", 1),
        ("http", "too_large", 2),
        ("grpc", "too_large", 1),
    ):
        assert (
            ingress.metric(
                "tasklogs_receiver_refused_requests_total",
                receiver="otlp",
                transport=transport,
                reason=reason,
            )
            >= least
        ), (transport, reason)
    ingress.still_serving()


def test_partial_success_stores_the_records_with_task_identity(ingress: Ingress) -> None:
    trid = f"tr-{uuid.uuid4()}"
    resp = ingress.grpc_export(make_request([trid, None], per_resource=2).SerializeToString())
    assert resp.partial_success.rejected_log_records == 2
    assert "cicd.pipeline.task.run.id" in resp.partial_success.error_message
    http = ingress.http_export(make_request([None, trid], per_resource=2).SerializeToString())
    assert http.status_code == 200
    ps = ExportLogsServiceResponse.FromString(http.content).partial_success
    assert ps.rejected_log_records == 2
    assert len(ingress.service.wait_for(trid, 4, token=ACME)) == 4
    assert (
        ingress.metric(
            "tasklogs_receiver_refused_log_records_total",
            receiver="otlp",
            transport="grpc",
            reason="rejected",
        )
        >= 2
    )


def test_a_request_beyond_the_whole_queue_is_accepted_not_refused_forever(
    ingress: Ingress,
) -> None:
    # More records than sending_queue.queue_size: a retry could never make it fit, so it
    # is taken when the queue is empty (refused, retryably, only while the queue holds
    # records: tests/collector_service/test_oversize.py).
    for send in ("http", "grpc"):
        trid = f"tr-{uuid.uuid4()}"
        flood = make_request([trid], per_resource=2 * QUEUE + 1).SerializeToString()
        if send == "http":
            resp = ingress.http_export(flood)
            assert resp.status_code == 200, resp.text
        else:
            ingress.grpc_export(flood)
        records = ingress.service.wait_for(trid, 2 * QUEUE + 1, token=ACME)
        assert len(records) == 2 * QUEUE + 1
    ingress.still_serving()


def test_health_and_metrics_endpoints(ingress: Ingress) -> None:
    api = ingress.service.api_url
    assert httpx.get(f"{api}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{api}/readyz").json() == {"status": "ready"}
    before = ingress.metric(
        "tasklogs_receiver_accepted_log_records_total", receiver="otlp", transport="http"
    )
    ingress.still_serving()
    resp = httpx.get(f"{api}/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    assert "# TYPE tasklogs_receiver_accepted_log_records_total counter" in resp.text
    after = ingress.metric(
        "tasklogs_receiver_accepted_log_records_total", receiver="otlp", transport="http"
    )
    assert after - before == 2


def test_tasklogs_run_sends_its_token_from_the_standard_otlp_headers_variable(
    ingress: Ingress,
) -> None:
    env = {**os.environ, "OTEL_EXPORTER_OTLP_HEADERS": f"authorization=Bearer%20{GLOBEX}"}
    trid = f"tr-{uuid.uuid4()}"
    proc = subprocess.run(
        tasklogs_cmd(
            "run", "--task-run-id", trid, "--endpoint", ingress.service.grpc_endpoint,
            "--", "sh", "-c", "echo one; echo two",
        ),
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    records = ingress.service.wait_for(trid, 4, token=GLOBEX)  # task start, two lines, task end
    assert [r["body"] for r in records][1:3] == ["one", "two"]
    assert {r["resource_attributes"]["tasklogs.tenant"] for r in records} == {"globex"}
