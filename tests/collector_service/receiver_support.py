"""Helpers for receiver tests: real gRPC and HTTP servers on free loopback ports.

The receivers run in the test's event loop and hand requests to a :class:`Sink` (the
receiver->pipeline seam) that records entries or refuses them, so a test decides exactly
when backpressure happens. The full path through the real pipeline and store is covered by
``tests/e2e/test_ingress.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs

from collector_service.auth import AuthConfig, Authenticator
from collector_service.errors import BackpressureError
from collector_service.metrics import REGISTRY
from collector_service.pipeline.entry import IngestEntry
from collector_service.receivers import (
    Ingestor,
    OtlpGrpcReceiver,
    OtlpHttpReceiver,
    ReceiverSettings,
)
from collector_service.receivers.config import GrpcConfig, HttpConfig
from tests.support import free_port

GRPC_METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


@dataclass
class Sink:
    """Records submitted entries; refuses with ``refusal`` while ``refuse_next`` > 0."""

    entries: list[IngestEntry] = field(default_factory=list)
    refuse_next: int = 0
    refusal: BackpressureError | None = None
    delay: float = 0.0

    async def submit(self, entry: IngestEntry) -> None:
        if self.delay:
            import asyncio

            await asyncio.sleep(self.delay)
        if self.refuse_next > 0 and self.refusal is not None:
            self.refuse_next -= 1
            raise self.refusal
        self.entries.append(entry)

    @property
    def records(self) -> int:
        return sum(e.records for e in self.entries)


@dataclass
class Receivers:
    receiver_id: str
    sink: Sink
    grpc: OtlpGrpcReceiver
    http: OtlpHttpReceiver

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc.bound_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http.bound_port}/v1/logs"

    def refused_requests(self, transport: str, reason: str) -> float:
        labels = {"receiver": self.receiver_id, "transport": transport, "reason": reason}
        value = REGISTRY.get_sample_value("tasklogs_receiver_refused_requests_total", labels)
        return value or 0.0

    def refused_records(self, transport: str, reason: str) -> float:
        labels = {"receiver": self.receiver_id, "transport": transport, "reason": reason}
        value = REGISTRY.get_sample_value("tasklogs_receiver_refused_log_records_total", labels)
        return value or 0.0

    def accepted_records(self, transport: str) -> float:
        labels = {"receiver": self.receiver_id, "transport": transport}
        value = REGISTRY.get_sample_value("tasklogs_receiver_accepted_log_records_total", labels)
        return value or 0.0


@asynccontextmanager
async def running_receivers(
    *,
    auth: AuthConfig | None = None,
    require_task_identity: bool = False,
    grpc_mib: int = 1,
    http_limit: int = 64 * 1024,
    http_config: HttpConfig | None = None,
) -> AsyncIterator[Receivers]:
    """Both receivers of one fresh receiver id (so its metrics start at zero)."""
    receiver_id = f"otlp/{uuid.uuid4().hex[:8]}"
    sink = Sink()
    ingestor = Ingestor(
        ReceiverSettings(receiver_id, require_task_identity),
        sink,
        Authenticator(auth) if auth is not None else None,
    )
    grpc_rx = OtlpGrpcReceiver(
        GrpcConfig(endpoint=f"127.0.0.1:{free_port()}", max_recv_msg_size_mib=grpc_mib), ingestor
    )
    http_cfg = http_config or HttpConfig(
        endpoint=f"127.0.0.1:{free_port()}", max_request_body_size=http_limit
    )
    http_rx = OtlpHttpReceiver(http_cfg, ingestor)
    await grpc_rx.start()
    try:
        await http_rx.start()
        try:
            yield Receivers(receiver_id, sink, grpc_rx, http_rx)
        finally:
            await http_rx.stop(grace=2)
    finally:
        await grpc_rx.stop(grace=2)


def _kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def make_request(
    task_run_ids: list[str | None], per_resource: int = 2, body: str = "line"
) -> ExportLogsServiceRequest:
    """One resource per task run id (``None``: a resource without task identity)."""
    request = ExportLogsServiceRequest()
    for i, trid in enumerate(task_run_ids):
        attrs = [_kv("service.name", f"svc-{i}"), _kv("tasklogs.tenant", "forged")]
        if trid is not None:
            attrs.append(_kv("cicd.pipeline.task.run.id", trid))
        records = [
            LogRecord(
                time_unix_nano=1_700_000_000_000_000_000 + n,
                body=AnyValue(string_value=f"{body} {n}"),
                trace_id=bytes(range(16)),
                span_id=bytes(range(8)),
            )
            for n in range(per_resource)
        ]
        rl = ResourceLogs(scope_logs=[ScopeLogs(log_records=records)])
        rl.resource.attributes.extend(attrs)
        request.resource_logs.append(rl)
    return request
