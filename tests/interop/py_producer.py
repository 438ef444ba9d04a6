"""A task that logs through the stock OpenTelemetry Python SDK only (no otel_sdk_ext).

    python py_producer.py grpc|http ENDPOINT TASK_RUN_ID LINES OUT.json

stdlib ``logging`` through opentelemetry-instrumentation-logging's ``LoggingHandler`` and
the Logs API directly, into a ``BatchLogRecordProcessor`` with the stock OTLP exporter
(gRPC, or HTTP/protobuf), plus an in-memory copy of every record as the SDK exported it,
written to OUT.json for the test to compare with what tasklogs stored.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    InMemoryLogRecordExporter,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider


def _exporter(protocol: str, endpoint: str) -> Any:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        return OTLPLogExporter(endpoint=endpoint, insecure=True)
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as Http

    return Http(endpoint=f"{endpoint}/v1/logs")


def _dump(rec: ReadableLogRecord) -> dict[str, Any]:
    lr, scope = rec.log_record, rec.instrumentation_scope
    return {
        "time_ns": lr.timestamp,
        "observed_ns": lr.observed_timestamp,
        "severity_text": lr.severity_text or "",
        "severity_number": lr.severity_number.value if lr.severity_number else 0,
        "body": lr.body,
        "attributes": dict(lr.attributes or {}),
        "trace_id": f"{lr.trace_id:032x}" if lr.trace_id else "",
        "span_id": f"{lr.span_id:016x}" if lr.span_id else "",
        "trace_flags": int(lr.trace_flags or 0),
        "event_name": lr.event_name or "",
        "resource": dict(rec.resource.attributes),
        "resource_schema_url": rec.resource.schema_url,
        "scope_name": scope.name if scope else "",
        "scope_version": (scope.version if scope else "") or "",
        "scope_attributes": dict((scope.attributes if scope else None) or {}),
        "scope_schema_url": (scope.schema_url if scope else "") or "",
        "dropped_attributes_count": rec.dropped_attributes,
    }


def main() -> None:
    protocol, endpoint, task_run_id, lines, out = sys.argv[1:6]
    resource = Resource.create(
        {
            "service.name": "stock-python",
            "cicd.pipeline.task.run.id": task_run_id,
            "cicd.pipeline.run.id": "py-run",
            "cicd.pipeline.task.name": f"py-{protocol}",
        },
        schema_url="https://opentelemetry.io/schemas/1.26.0",
    )
    provider = LoggerProvider(resource=resource)
    memory = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    provider.add_log_record_processor(BatchLogRecordProcessor(_exporter(protocol, endpoint)))
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))

    log = logging.getLogger("interop.stdlib")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    log.addHandler(LoggingHandler(logger_provider=provider))
    tracer = TracerProvider().get_tracer("interop")
    for i in range(int(lines)):
        log.info("line %d of %s", i, task_run_id, extra={"i": i, "ratio": i / 4, "odd": i % 2 == 1})
    log.warning("ünïcode ✓ and\nan embedded newline")
    with tracer.start_as_current_span("work"):
        log.error("inside a span", extra={"tags": ["a", "b"]})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("caught")
    direct = provider.get_logger(
        "interop.direct",
        "2.0.1",
        schema_url="https://opentelemetry.io/schemas/1.27.0",
        attributes={"scope.attr": "yes"},
    )
    direct.emit(
        LogRecord(
            severity_number=SeverityNumber.INFO2,
            severity_text="INFO2",
            body={"msg": "a map body", "n": 3},
            attributes={"k": "v"},
            event_name="interop.event",
        )
    )
    provider.shutdown()
    with open(out, "w", encoding="utf-8") as f:
        json.dump([_dump(r) for r in memory.get_finished_logs()], f)


if __name__ == "__main__":
    main()
