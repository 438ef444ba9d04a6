"""tasklogs.seq: 1..N per task run, in queue order, from any number of threads."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import (
    LoggerProvider,
    LogRecordProcessor,
    ReadableLogRecord,
    ReadWriteLogRecord,
)
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    InMemoryLogRecordExporter,
    SimpleLogRecordProcessor,
)

import otel_sdk_ext
from otel_sdk_ext import semconv
from otel_sdk_ext._seq import SequenceProcessor


def new_exporter() -> InMemoryLogRecordExporter:
    return InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]


def seqs(records: tuple[ReadableLogRecord, ...]) -> list[Any]:
    return [dict(r.log_record.attributes or {}).get(semconv.SEQ) for r in records]


@pytest.fixture
def provider() -> Iterator[tuple[LoggerProvider, SequenceProcessor, InMemoryLogRecordExporter]]:
    exporter = new_exporter()
    provider = LoggerProvider(shutdown_on_exit=False)
    processor = SequenceProcessor(
        BatchLogRecordProcessor(exporter, schedule_delay_millis=5, max_queue_size=65536)
    )
    provider.add_log_record_processor(processor)
    yield provider, processor, exporter
    provider.shutdown()


def test_seq_counts_from_one_in_order(
    provider: tuple[LoggerProvider, SequenceProcessor, InMemoryLogRecordExporter],
) -> None:
    lp, processor, exporter = provider
    logger = lp.get_logger("t")
    for i in range(10):
        logger.emit(body=f"line {i}", attributes={"k": i})
    assert processor.last_seq == 10
    lp.force_flush()
    records = exporter.get_finished_logs()
    assert seqs(records) == list(range(1, 11))
    assert [r.log_record.body for r in records] == [f"line {i}" for i in range(10)]
    assert dict(records[3].log_record.attributes or {})["k"] == 3  # other attributes kept
    assert isinstance(seqs(records)[0], int)


def test_seq_in_queue_order_from_many_threads(
    provider: tuple[LoggerProvider, SequenceProcessor, InMemoryLogRecordExporter],
) -> None:
    lp, _, exporter = provider
    logger = lp.get_logger("t")
    n_threads, per_thread = 8, 500
    barrier = threading.Barrier(n_threads)

    def work(t: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            logger.emit(body=f"{t}:{i}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lp.force_flush()
    records = exporter.get_finished_logs()
    total = n_threads * per_thread
    # Exported order is queue order; it must be exactly the seq order, with no gap.
    assert seqs(records) == list(range(1, total + 1))
    for t in range(n_threads):
        mine = [
            str(r.log_record.body) for r in records if str(r.log_record.body).startswith(f"{t}:")
        ]
        assert mine == [f"{t}:{i}" for i in range(per_thread)]


def test_configure_stamps_every_source_from_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    exporter = new_exporter()
    tl = otel_sdk_ext.configure(
        task_run_id=f"seq-{uuid.uuid4()}", capture_output=False, _exporter=exporter
    )
    try:
        log = logging.getLogger("seq.test")

        def work(t: int) -> None:
            for i in range(300):
                if i % 2:
                    tl.emit_line("stdout", f"{t}:{i}")
                else:
                    log.warning("%s:%s", t, i)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        tl.emit_task_end(0)
        assert tl.last_seq == 1201
    finally:
        tl.shutdown()
    records = exporter.get_finished_logs()
    assert seqs(records) == list(range(1, 1202))
    assert records[-1].log_record.event_name == semconv.EVENT_TASK_END


def test_stopped_processor_drops_without_consuming_numbers() -> None:
    exporter = new_exporter()
    lp = LoggerProvider(shutdown_on_exit=False)
    processor = SequenceProcessor(SimpleLogRecordProcessor(exporter))
    lp.add_log_record_processor(processor)
    logger = lp.get_logger("t")
    logger.emit(body="one")
    processor.stop()
    logger.emit(body="dropped")
    assert processor.last_seq == 1
    assert [r.log_record.body for r in exporter.get_finished_logs()] == ["one"]
    lp.shutdown()


class _ReentrantProcessor(LogRecordProcessor):
    """Emits another record from inside on_emit, as a signal handler that logs might."""

    def __init__(self, inner: LogRecordProcessor, *, always: bool = False) -> None:
        self.inner = inner
        self.always = always
        self.provider: LoggerProvider | None = None

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        assert self.provider is not None
        if self.always or str(log_record.log_record.body).startswith("outer"):
            self.provider.get_logger("nested").emit(
                body="nested", severity_number=SeverityNumber.WARN
            )
        self.inner.on_emit(log_record)

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def test_reentrant_emission_is_stamped_after_the_outer_record() -> None:
    exporter = new_exporter()
    lp = LoggerProvider(shutdown_on_exit=False)
    reentrant = _ReentrantProcessor(SimpleLogRecordProcessor(exporter))
    reentrant.provider = lp
    processor = SequenceProcessor(reentrant)
    lp.add_log_record_processor(processor)
    lp.get_logger("t").emit(body="outer")
    lp.get_logger("t").emit(body="outer 2")
    assert processor.reentrant_drops == 0
    records = exporter.get_finished_logs()
    assert [r.log_record.body for r in records] == ["outer", "nested", "outer 2", "nested"]
    assert seqs(records) == [1, 2, 3, 4]
    lp.shutdown()


def test_runaway_reentrant_emission_is_bounded_and_counted() -> None:
    exporter = new_exporter()
    lp = LoggerProvider(shutdown_on_exit=False)
    reentrant = _ReentrantProcessor(SimpleLogRecordProcessor(exporter), always=True)
    reentrant.provider = lp
    processor = SequenceProcessor(reentrant)
    lp.add_log_record_processor(processor)
    lp.get_logger("t").emit(body="outer")
    assert processor.reentrant_drops == 1
    records = exporter.get_finished_logs()
    assert len(records) == 1 + 1024
    assert seqs(records) == list(range(1, 1026))
    lp.shutdown()


class _FailingProcessor(LogRecordProcessor):
    def __init__(self) -> None:
        self.fail = True
        self.seen: list[Any] = []

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        if self.fail:
            raise RuntimeError("boom")
        self.seen.append(dict(log_record.log_record.attributes or {})[semconv.SEQ])

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def test_failing_processor_leaves_a_visible_gap(caplog: pytest.LogCaptureFixture) -> None:
    failing = _FailingProcessor()
    lp = LoggerProvider(shutdown_on_exit=False)
    processor = SequenceProcessor(failing)
    lp.add_log_record_processor(processor)
    with caplog.at_level(logging.ERROR, logger="otel_sdk_ext._seq"):
        lp.get_logger("t").emit(body="lost")
    assert "record dropped" in caplog.text
    failing.fail = False
    lp.get_logger("t").emit(body="kept")
    assert failing.seen == [2]  # the lost record's number is a gap consumers can see
    lp.shutdown()
