"""The shared exporter wrapper, with a recording exporter standing in for a database."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs

from collector_service.component.model import LogBatch
from collector_service.errors import (
    BackpressureError,
    PermanentExportError,
    RetryableExportError,
    UnavailableError,
)
from collector_service.metrics import REGISTRY
from collector_service.pipeline.config import ExporterHelperConfig
from collector_service.pipeline.deadletter import FileDeadLetter
from collector_service.pipeline.entry import IngestEntry
from collector_service.pipeline.memory import ExporterRunner
from collector_service.pipeline.router import Pipeline
from collector_service.service.config import Config
from tests.support import tasklogs


def entry(n: int, start: int = 0) -> IngestEntry:
    records = [
        LogRecord(time_unix_nano=i + 1, body=AnyValue(string_value=f"l{i}"))
        for i in range(start, start + n)
    ]
    req = ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=records)])]
    )
    return IngestEntry(request=req, records=n)


class Recorder:
    def __init__(self, failures: list[Exception] | None = None) -> None:
        self.batches: list[LogBatch] = []
        self.failures = failures or []
        self.threads: set[str] = set()
        self.started = self.stopped = False

    def start(self) -> None:
        self.started = True

    def push(self, batch: LogBatch) -> None:
        self.threads.add(threading.current_thread().name)
        if self.failures:
            raise self.failures.pop(0)
        self.batches.append(batch)

    def shutdown(self) -> None:
        self.stopped = True

    def bodies(self) -> list[str]:
        return [b for batch in self.batches for b in batch.body]


def helper(**overrides: object) -> ExporterHelperConfig:
    base: dict[str, object] = {
        "batch": {"timeout_ms": 20, "send_batch_max_size": 100},
        "retry_on_failure": {"initial_interval_ms": 1, "max_elapsed_time_s": 5},
        "sending_queue": {"queue_size": 1000},
    }
    base.update(overrides)
    return ExporterHelperConfig.model_validate(base)


async def test_batches_by_size_and_time_and_drains_on_stop() -> None:
    rec = Recorder()
    runner = ExporterRunner("rec", rec, helper())
    await runner.start()
    pipeline = Pipeline([runner])
    for i in range(10):
        await pipeline.submit(entry(30, start=i * 30))
    await runner.stop(timeout=5)
    assert rec.started
    assert rec.stopped
    assert rec.bodies() == [f"l{i}" for i in range(300)]
    assert all(len(b) <= 100 for b in rec.batches)
    assert len(rec.batches) < 10  # requests were combined
    assert rec.threads == {next(iter(rec.threads))}  # one worker thread, never concurrent
    assert runner.stats.sent_records == 300
    assert runner.pending == 0


async def test_retryable_errors_are_retried_until_success() -> None:
    rec = Recorder([RetryableExportError("down"), RuntimeError("surprise")])
    runner = ExporterRunner("rec", rec, helper())
    await runner.start()
    await Pipeline([runner]).submit(entry(5))
    await runner.stop(timeout=5)
    assert rec.bodies() == [f"l{i}" for i in range(5)]
    assert runner.stats.retries == 2
    assert runner.stats.failed_records == 0


async def test_permanent_errors_are_counted_not_retried() -> None:
    rec = Recorder([PermanentExportError("bad schema")])
    runner = ExporterRunner("rec", rec, helper())
    await runner.start()
    pipeline = Pipeline([runner])
    await pipeline.submit(entry(5))
    await asyncio.sleep(0.2)
    await pipeline.submit(entry(3))
    await runner.stop(timeout=5)
    assert runner.stats.failed_records == 5
    assert runner.stats.retries == 0
    assert rec.bodies() == ["l0", "l1", "l2"]


async def test_retry_of_an_unknown_error_gives_up_after_max_elapsed_time() -> None:
    rec = Recorder([RuntimeError("surprise")] * 1000)
    runner = ExporterRunner(
        "rec", rec, helper(retry_on_failure={"initial_interval_ms": 10, "max_elapsed_time_s": 0.1})
    )
    await runner.start()
    await Pipeline([runner]).submit(entry(4))
    await runner.stop(timeout=5)
    assert runner.stats.failed_records == 4
    assert rec.batches == []


async def test_a_retryable_error_is_retried_past_max_elapsed_time_while_receivers_refuse() -> None:
    # The environment (disk full, read-only, store down): never dead-lettered; the
    # service is not ready and new requests are refused (retryable) until it recovers.
    rec = Recorder([RetryableExportError("disk full")] * 8)
    runner = ExporterRunner(
        "rec", rec, helper(retry_on_failure={"initial_interval_ms": 10, "max_elapsed_time_s": 0.05})
    )
    await runner.start()
    pipeline = Pipeline([runner])
    await pipeline.submit(entry(4))
    await asyncio.sleep(0.05)
    assert runner.handle.not_ready is not None
    assert "disk full" in runner.handle.not_ready
    with pytest.raises(UnavailableError, match="disk full"):
        await pipeline.submit(entry(2))
    await runner.stop(timeout=10)
    assert runner.stats.failed_records == 0
    assert runner.stats.retries == 8
    assert rec.bodies() == [f"l{i}" for i in range(4)]
    assert runner.handle.not_ready is None


async def test_full_queue_refuses_the_whole_request() -> None:
    slow, fast = Recorder(), Recorder()
    gate = threading.Event()
    original = slow.push

    def blocked_push(batch: LogBatch) -> None:
        gate.wait(5)
        original(batch)

    slow.push = blocked_push  # type: ignore[method-assign]
    r1 = ExporterRunner("slow", slow, helper(sending_queue={"queue_size": 50}))
    r2 = ExporterRunner("fast", fast, helper())
    await r1.start()
    await r2.start()
    pipeline = Pipeline([r1, r2])
    await pipeline.submit(entry(40))
    with pytest.raises(BackpressureError, match="slow queue is full") as info:
        await pipeline.submit(entry(20))
    assert info.value.retry_after > 0
    assert pipeline.refused_records == 20
    assert pipeline.accepted_records == 40
    gate.set()
    await r1.stop(timeout=5)
    await r2.stop(timeout=5)
    # A refused request reached no exporter at all.
    assert len(slow.bodies()) == len(fast.bodies()) == 40


async def test_unwritable_batches_are_dead_lettered_to_a_file(tmp_path: Path) -> None:
    rec = Recorder([PermanentExportError("bad schema")])
    runner = ExporterRunner("rec/main", rec, helper(), FileDeadLetter(tmp_path))
    before = REGISTRY.get_sample_value(
        "tasklogs_exporter_dead_lettered_log_records_total", {"exporter": "rec/main"}
    )
    await runner.start()
    await Pipeline([runner]).submit(entry(5))
    await runner.stop(timeout=5)
    assert runner.stats.dead_lettered == 5
    after = REGISTRY.get_sample_value(
        "tasklogs_exporter_dead_lettered_log_records_total", {"exporter": "rec/main"}
    )
    assert (after or 0) - (before or 0) == 5
    config = Config(
        data_dir=tmp_path,
        exporters={"clickhouse": {}},
    )
    (tmp_path / "c.yaml").write_text(
        "exporters: {'rec/main': {}}\n"
        "service: {pipelines: {logs: {receivers: [otlp], exporters: ['rec/main']}}}\n",
        encoding="utf-8",
    )
    assert config.redis is None
    proc = tasklogs(
        "deadletter",
        "--config",
        str(tmp_path / "c.yaml"),
        "--data-dir",
        str(tmp_path),
        "-o",
        "json",
    )
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(r["exporter"], r["records"]) for r in rows] == [("rec/main", 5)]
    assert "permanent" in rows[0]["reason"]
