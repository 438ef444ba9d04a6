"""A stock producer's records (no task identity) through the real `tasklogs serve`: stored
under the identity derived from their resource, readable by it, warned about once."""

from __future__ import annotations

import grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from tests.support import RunningService

METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


def _request(first: int) -> bytes:
    resource = Resource(
        attributes=[
            KeyValue(key="service.name", value=AnyValue(string_value="checkout")),
            KeyValue(key="service.instance.id", value=AnyValue(string_value="pod-3")),
        ]
    )
    records = [
        LogRecord(time_unix_nano=1_900_000_000_000_000_000 + i, body=AnyValue(string_value=f"l{i}"))
        for i in range(first, first + 5)
    ]
    request = ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(resource=resource, scope_logs=[ScopeLogs(log_records=records)])]
    )
    payload: bytes = request.SerializeToString()
    return payload


def test_records_without_identity_are_stored_under_a_derived_one(service: RunningService) -> None:
    target = service.grpc_endpoint.removeprefix("http://")
    with grpc.insecure_channel(target) as channel:
        export = channel.unary_unary(METHOD)
        for first in (0, 5):
            export(_request(first), timeout=10)
    records = service.wait_for("checkout@pod-3", 10)
    assert [r["body"] for r in records] == [f"l{i}" for i in range(10)]
    resource = records[0]["resource_attributes"]
    assert resource["cicd.pipeline.run.id"] == "checkout@pod-3"
    assert resource["cicd.pipeline.task.name"] == "checkout"
    assert "cicd.pipeline.task.run.id" in resource["tasklogs.identity.derived"]
    log = service.log_text()
    assert log.count("producer checkout@pod-3 sends log records without") == 1, log
