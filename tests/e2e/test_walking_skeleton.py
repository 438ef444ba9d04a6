"""One log line from a task to history, end to end, through real processes.

Each test starts a real `tasklogs serve` (OTLP/gRPC receiver, pipeline, chDB store, HTTP
API) on free loopback ports, runs a real producer against it, and reads history back.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import textwrap
import uuid

import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from tests.support import RunningService, tasklogs

pytestmark = pytest.mark.e2e

CHILD = textwrap.dedent(
    """
    import logging, sys
    import otel_sdk_ext

    otel_sdk_ext.configure(
        task_run_id=sys.argv[1], pipeline_run_id="run-42", task_name="extract",
        pipeline_name="nightly", endpoint=sys.argv[2],
    )
    log = logging.getLogger("task")
    for i in range(1000):
        log.info("log %d", i)
        print(f"print {i}")
    """
)


def test_python_task_logging_and_print_all_stored_once_in_order(service: RunningService) -> None:
    task_run_id = f"tr-{uuid.uuid4()}"
    child = subprocess.run(
        [sys.executable, "-c", CHILD, task_run_id, service.grpc_endpoint],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    # The task's own stdout still sees every print.
    assert child.stdout.splitlines() == [f"print {i}" for i in range(1000)]

    records = service.wait_for(task_run_id, 2000)
    assert len(records) == 2000, f"expected 2000 stored records, got {len(records)}"
    assert [r["seq"] for r in records] == list(range(1, 2001))
    expected_bodies = [body for i in range(1000) for body in (f"log {i}", f"print {i}")]
    assert [r["body"] for r in records] == expected_bodies
    for rec in records:
        res = rec["resource_attributes"]
        assert res["cicd.pipeline.task.run.id"] == task_run_id
        assert res["cicd.pipeline.run.id"] == "run-42"
        assert res["cicd.pipeline.task.name"] == "extract"
        assert res["cicd.pipeline.name"] == "nightly"
        assert rec["service_name"] == res["service.name"] != ""
        assert rec["log_attributes"]["tasklogs.seq"] == str(rec["seq"])
    printed = [r for r in records if r["body"].startswith("print")]
    assert {(r["severity_text"], r["log_attributes"].get("log.iostream")) for r in printed} == {
        ("INFO", "stdout")
    }


def test_tasklogs_run_ships_both_streams_and_passes_the_exit_code(
    service: RunningService,
) -> None:
    script = "for i in $(seq 1 200); do echo out$i; echo err$i >&2; done; exit 3"
    task_run_id, proc = service.run_shell(script, "--task-name", "shell")
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.splitlines() == [f"out{i}" for i in range(1, 201)]
    assert proc.stderr.splitlines() == [f"err{i}" for i in range(1, 201)]

    records = service.wait_for(task_run_id, 402)
    lifecycle = ("tasklogs.task.start", "tasklogs.task.end")
    lines = [r for r in records if r["event_name"] not in lifecycle]
    ends = [r for r in records if r["event_name"] == "tasklogs.task.end"]
    assert [r["seq"] for r in records if r["event_name"] == "tasklogs.task.start"] == [1]
    out = [r for r in lines if r["log_attributes"].get("log.iostream") == "stdout"]
    err = [r for r in lines if r["log_attributes"].get("log.iostream") == "stderr"]
    assert [r["body"] for r in out] == [f"out{i}" for i in range(1, 201)]
    assert [r["body"] for r in err] == [f"err{i}" for i in range(1, 201)]
    assert {r["severity_text"] for r in out} == {"INFO"}
    assert {r["severity_text"] for r in err} == {"ERROR"}
    assert len(lines) == 400
    assert len(ends) == 1
    assert ends[0]["log_attributes"]["process.exit.code"] == "3"
    assert ends[0]["log_attributes"]["cicd.pipeline.task.run.result"] == "failure"
    assert ends[0]["seq"] == max(r["seq"] for r in records)
    assert sorted(r["seq"] for r in records) == list(range(1, 403))


def test_record_from_the_stock_otel_sdk_is_stored_intact(service: RunningService) -> None:
    task_run_id = f"tr-{uuid.uuid4()}"
    provider = LoggerProvider(
        resource=Resource.create(
            {"service.name": "stock-sdk", "cicd.pipeline.task.run.id": task_run_id}
        )
    )
    provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=service.grpc_endpoint, insecure=True))
    )
    logger = logging.getLogger(f"stock.{task_run_id}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    # The stock handler (the SDK's own one is deprecated in favour of this one).
    logger.addHandler(LoggingHandler(logger_provider=provider))
    tracer = TracerProvider().get_tracer("test")
    try:
        with tracer.start_as_current_span("work") as span:
            logger.warning("disk almost full: %d%%", 97, extra={"disk.device": "sda1", "n": 7})
            ctx = span.get_span_context()
    finally:
        provider.shutdown()

    (rec,) = service.wait_for(task_run_id, 1)
    assert rec["body"] == "disk almost full: 97%"
    assert (rec["severity_text"], rec["severity_number"]) == ("WARN", 13)
    assert rec["log_attributes"]["disk.device"] == "sda1"
    assert rec["log_attributes"]["n"] == "7"
    assert rec["trace_id"] == format(ctx.trace_id, "032x")
    assert rec["span_id"] == format(ctx.span_id, "016x")
    assert rec["service_name"] == "stock-sdk"
    assert rec["scope_name"] == f"stock.{task_run_id}"


def test_tasklogs_logs_prints_a_task_through_the_running_service(
    service: RunningService,
) -> None:
    task_run_id, run = service.run_shell("echo alpha; echo beta")
    assert run.returncode == 0, run.stderr
    service.wait_for(task_run_id, 4)
    raw = tasklogs(
        "logs", task_run_id, "-o", "raw", env={**os.environ, "TASKLOGS_API_URL": service.api_url}
    )
    assert raw.returncode == 0, raw.stderr
    assert raw.stdout.splitlines() == [
        "task started",
        "alpha",
        "beta",
        "task ended with exit code 0",
    ]
    text = tasklogs("logs", task_run_id, "--api", service.api_url)
    assert text.returncode == 0, text.stderr
    first = text.stdout.splitlines()[1]  # after the task start record
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z INFO  alpha", first)
