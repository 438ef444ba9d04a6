"""Building and sending OTLP requests for the hostile-input tests."""

from __future__ import annotations

import time

import grpc
import httpx
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs, SeverityNumber

from tests.adversarial.conftest import TOKEN_A

EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
BASE_NS = 1_700_000_000_000_000_000


def kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def request(
    task_run_id: str, bodies: list[str], *, first_seq: int = 1, run_id: str = "run-1"
) -> ExportLogsServiceRequest:
    """One task run's lines, each with ``tasklogs.seq``."""
    records = [
        LogRecord(
            time_unix_nano=BASE_NS + first_seq + i,
            severity_number=SeverityNumber.SEVERITY_NUMBER_INFO,
            severity_text="INFO",
            body=AnyValue(string_value=body),
            attributes=[kv("tasklogs.seq", str(first_seq + i))],
        )
        for i, body in enumerate(bodies)
    ]
    rl = ResourceLogs(scope_logs=[ScopeLogs(log_records=records)])
    rl.resource.attributes.extend(
        [
            kv("service.name", "adversarial"),
            kv("cicd.pipeline.task.run.id", task_run_id),
            kv("cicd.pipeline.run.id", run_id),
            kv("cicd.pipeline.task.name", "hostile"),
        ]
    )
    return ExportLogsServiceRequest(resource_logs=[rl])


class GrpcExporter:
    """A raw gRPC Export caller (bytes in, status out): no client-side validation."""

    def __init__(self, target: str, token: str = TOKEN_A) -> None:
        self._channel = grpc.insecure_channel(
            target,
            options=[
                ("grpc.max_send_message_length", 64 << 20),
                ("grpc.max_receive_message_length", 64 << 20),
            ],
        )
        self._call = self._channel.unary_unary(EXPORT)
        self._metadata = (("authorization", f"Bearer {token}"),)

    def export(self, payload: bytes, timeout: float = 30) -> grpc.StatusCode:
        try:
            self._call(payload, metadata=self._metadata, timeout=timeout)
        except grpc.RpcError as exc:
            code: grpc.StatusCode = exc.code()
            return code
        return grpc.StatusCode.OK

    def close(self) -> None:
        self._channel.close()


def post(
    url: str,
    body: bytes,
    *,
    token: str = TOKEN_A,
    content_type: str = "application/x-protobuf",
    encoding: str | None = None,
    timeout: float = 60,
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
    if encoding:
        headers["Content-Encoding"] = encoding
    return httpx.post(url, content=body, headers=headers, timeout=timeout)


def wait_stored(
    api_url: str, task_run_id: str, count: int, token: str = TOKEN_A, timeout: float = 30
) -> int:
    """Poll history until ``count`` records of the task are stored; the count found."""
    deadline = time.monotonic() + timeout
    got = 0
    while time.monotonic() < deadline:
        r = httpx.get(
            f"{api_url}/api/v1/tasks/{task_run_id}/logs",
            params={"limit": 10_000},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        if r.status_code == 200:
            got = len(r.json()["records"])
            if got >= count:
                return got
        time.sleep(0.1)
    return got
