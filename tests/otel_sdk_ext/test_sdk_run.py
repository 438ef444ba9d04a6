"""run_command: a child process's output becomes log records, plus the end record."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter

import otel_sdk_ext
from otel_sdk_ext import TaskIdentity, semconv
from otel_sdk_ext.errors import ConfigError
from otel_sdk_ext.run import run_command


def new_identity() -> TaskIdentity:
    # A fresh task run per call: sequence numbers continue per task run id in a process.
    return TaskIdentity(task_run_id=f"run-{uuid.uuid4()}", task_name="wrapped")


@pytest.fixture
def exporter() -> Iterator[InMemoryLogRecordExporter]:
    yield InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    otel_sdk_ext.shutdown()


def attrs(record: ReadableLogRecord) -> dict[str, Any]:
    return dict(record.log_record.attributes or {})


def scope(record: ReadableLogRecord) -> str:
    assert record.instrumentation_scope is not None
    return record.instrumentation_scope.name


def run(
    argv: list[str], exporter: InMemoryLogRecordExporter, identity: TaskIdentity | None = None
) -> int:
    return run_command(argv, identity=identity or new_identity(), _exporter=exporter)


def after_start(exporter: InMemoryLogRecordExporter) -> list[ReadableLogRecord]:
    """The records after the task start record (which must come first, with seq 1)."""
    records = list(exporter.get_finished_logs())
    first = records[0]
    assert first.log_record.event_name == semconv.EVENT_TASK_START
    assert attrs(first)[semconv.SEQ] == 1
    assert attrs(first)["process.pid"] == os.getpid()
    return records[1:]


def test_lines_and_end_record(
    exporter: InMemoryLogRecordExporter, capsys: pytest.CaptureFixture[str]
) -> None:
    identity = new_identity()
    code = run(["sh", "-c", "echo a; echo b >&2; exit 3"], exporter, identity)
    assert code == 3

    out, err = capsys.readouterr()
    assert out == "a\n"
    assert err == "b\n"
    records = after_start(exporter)
    assert len(records) == 3
    by_body = {r.log_record.body: r for r in records}
    a, b = by_body["a"], by_body["b"]
    assert scope(a) == "tasklogs.stdout"
    assert a.log_record.severity_number == SeverityNumber.INFO
    assert attrs(a)[semconv.LOG_IOSTREAM] == "stdout"
    assert scope(b) == "tasklogs.stderr"
    assert b.log_record.severity_number == SeverityNumber.ERROR
    assert attrs(b)[semconv.LOG_IOSTREAM] == "stderr"

    end = records[-1]
    assert end.log_record.event_name == semconv.EVENT_TASK_END
    assert end.log_record.body == "task ended with exit code 3"
    assert attrs(end)[semconv.PROCESS_EXIT_CODE] == 3
    assert attrs(end)[semconv.TASK_RUN_RESULT] == "failure"
    assert end.log_record.severity_number == SeverityNumber.ERROR

    assert sorted(attrs(r)[semconv.SEQ] for r in records) == [2, 3, 4]
    assert attrs(end)[semconv.SEQ] == 4
    assert attrs(end)[semconv.DROPPED_RECORDS] == 0
    for record in records:
        assert record.resource.attributes[semconv.TASK_RUN_ID] == identity.task_run_id
        assert record.resource.attributes[semconv.SERVICE_NAME] == "wrapped"
    assert otel_sdk_ext._registry.active() is None  # shut down afterwards


def test_success_partial_line_and_undecodable_bytes(
    exporter: InMemoryLogRecordExporter, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    script = r"printf 'one\r\ntwo\n'; printf '\377\n'; printf 'tail'"
    assert run(["sh", "-c", script], exporter) == 0
    out, _ = capsysbinary.readouterr()
    assert out == b"one\r\ntwo\n\xff\ntail"  # written through unchanged
    records = after_start(exporter)
    assert [r.log_record.body for r in records[:-1]] == [
        "one",
        "two",
        "\N{REPLACEMENT CHARACTER}",
        "tail",
    ]
    assert attrs(records[-1])[semconv.TASK_RUN_RESULT] == "success"
    assert records[-1].log_record.severity_number == SeverityNumber.INFO
    assert [attrs(r)[semconv.SEQ] for r in records] == [2, 3, 4, 5, 6]


def test_many_lines_keep_their_order(
    exporter: InMemoryLogRecordExporter, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run([sys.executable, "-c", "for i in range(3000): print(i)"], exporter)
    assert code == 0
    bodies = [r.log_record.body for r in after_start(exporter)]
    assert bodies[:-1] == [str(i) for i in range(3000)]
    assert capsys.readouterr().out == "".join(f"{i}\n" for i in range(3000))


def test_child_killed_by_signal(
    exporter: InMemoryLogRecordExporter, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["sh", "-c", "kill -TERM $$"], exporter) == 128 + signal.SIGTERM
    end = exporter.get_finished_logs()[-1]
    assert attrs(end)[semconv.PROCESS_EXIT_CODE] == 143
    assert attrs(end)[semconv.TASK_RUN_RESULT] == "cancellation"

    second = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    assert run(["sh", "-c", "kill -KILL $$"], second) == 128 + signal.SIGKILL
    end = second.get_finished_logs()[-1]
    assert attrs(end)[semconv.TASK_RUN_RESULT] == "failure"


def test_command_not_found(
    exporter: InMemoryLogRecordExporter, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["tasklogs-no-such-command-xyz"], exporter) == 127
    err = capsys.readouterr().err
    assert "tasklogs-no-such-command-xyz" in err
    assert "not found" in err
    records = after_start(exporter)
    assert "not found" in str(records[0].log_record.body)
    end = records[-1]
    assert end.log_record.event_name == semconv.EVENT_TASK_END
    assert attrs(end)[semconv.PROCESS_EXIT_CODE] == 127
    assert attrs(end)[semconv.TASK_RUN_RESULT] == "failure"


def test_empty_command_is_a_config_error(exporter: InMemoryLogRecordExporter) -> None:
    with pytest.raises(ConfigError, match="no command"):
        run([], exporter)


def test_sigterm_is_forwarded_to_the_child(
    exporter: InMemoryLogRecordExporter, capsys: pytest.CaptureFixture[str]
) -> None:
    assert threading.current_thread() is threading.main_thread()
    original = signal.getsignal(signal.SIGTERM)
    sent = threading.Event()

    def send_when_forwarding() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if signal.getsignal(signal.SIGTERM) is not original:
                time.sleep(0.2)  # let the child start
                os.kill(os.getpid(), signal.SIGTERM)
                sent.set()
                return
            time.sleep(0.01)

    sender = threading.Thread(target=send_when_forwarding)
    sender.start()
    started = time.monotonic()
    try:
        code = run(["sleep", "30"], exporter)
    finally:
        sender.join()
    assert sent.is_set()
    assert time.monotonic() - started < 10
    assert code == 143
    end = exporter.get_finished_logs()[-1]
    assert attrs(end)[semconv.TASK_RUN_RESULT] == "cancellation"
    assert signal.getsignal(signal.SIGTERM) is original  # handler restored
