"""configure(): stdout/stderr tees, the logging handler, lifecycle records, shutdown.

Each test configures and shuts down inside its own body: pytest swaps sys.stdout
between test phases, so a tee must not outlive the phase that installed it.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter

import otel_sdk_ext
from otel_sdk_ext import TaskLogging, semconv
from otel_sdk_ext._exporters import insecure_for
from otel_sdk_ext._registry import active
from otel_sdk_ext._tee import TeeTextStream
from otel_sdk_ext.errors import ConfigError
from otel_sdk_ext.settings import DEFAULT_GRPC_ENDPOINT, Settings

RUN_ID = f"capture-{uuid.uuid4()}"

ENV_KEYS = (
    "TASKLOGS_TASK_RUN_ID",
    "TASKLOGS_PIPELINE_RUN_ID",
    "TASKLOGS_TASK_NAME",
    "TASKLOGS_PIPELINE_NAME",
    "TASKLOGS_ATTEMPT",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_SDK_DISABLED",
)


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemoryLogRecordExporter]:
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    yield InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    otel_sdk_ext.shutdown()  # in case a test failed before its own shutdown


def start(exporter: InMemoryLogRecordExporter, **kwargs: Any) -> TaskLogging:
    # A fresh task run per call: sequence numbers continue per task run id in a process.
    kwargs.setdefault("task_run_id", f"run-{uuid.uuid4()}")
    return otel_sdk_ext.configure(_exporter=exporter, **kwargs)


def attrs(record: ReadableLogRecord) -> dict[str, Any]:
    return dict(record.log_record.attributes or {})


def lines(exporter: InMemoryLogRecordExporter, scope: str) -> list[Any]:
    return [
        r.log_record.body
        for r in exporter.get_finished_logs()
        if r.instrumentation_scope is not None and r.instrumentation_scope.name == scope
    ]


def test_print_is_captured_and_still_written(
    exporter: InMemoryLogRecordExporter, capsys: pytest.CaptureFixture[str]
) -> None:
    tl = start(exporter, task_run_id=RUN_ID)
    print("hello")
    print("two\nlines")
    print("oops", file=sys.stderr)
    tl.shutdown()

    out, err = capsys.readouterr()
    assert out == "hello\ntwo\nlines\n"
    assert err == "oops\n"
    assert lines(exporter, "tasklogs.stdout") == ["hello", "two", "lines"]
    assert lines(exporter, "tasklogs.stderr") == ["oops"]
    by_body = {r.log_record.body: r for r in exporter.get_finished_logs()}
    hello, oops = by_body["hello"], by_body["oops"]
    assert hello.log_record.severity_number == SeverityNumber.INFO
    assert hello.log_record.severity_text == "INFO"
    assert attrs(hello)[semconv.LOG_IOSTREAM] == "stdout"
    assert oops.log_record.severity_number == SeverityNumber.ERROR
    assert oops.log_record.severity_text == "ERROR"
    assert attrs(oops)[semconv.LOG_IOSTREAM] == "stderr"
    assert hello.log_record.timestamp is not None
    assert hello.resource.attributes[semconv.TASK_RUN_ID] == RUN_ID


def test_partial_line_is_emitted_at_shutdown_not_at_flush(
    exporter: InMemoryLogRecordExporter, capsys: pytest.CaptureFixture[str]
) -> None:
    tl = start(exporter)
    print("progress: 50%", end="", flush=True)
    assert tl.flush()
    assert lines(exporter, "tasklogs.stdout") == []
    print(" 100%", end="")
    tl.shutdown()
    assert lines(exporter, "tasklogs.stdout") == ["progress: 50% 100%"]
    assert capsys.readouterr().out == "progress: 50% 100%"


def test_buffer_bytes_are_captured(
    exporter: InMemoryLogRecordExporter, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    tl = start(exporter)
    sys.stdout.write("text then ")
    sys.stdout.buffer.write(b"bytes\n")
    snowman = "\N{SNOWMAN}".encode()
    sys.stdout.buffer.write(snowman[:1])  # a multi-byte character split across writes
    sys.stdout.buffer.write(snowman[1:] + b"\n")
    sys.stdout.buffer.write(b"bad \xff byte\n")
    sys.stderr.buffer.write(b"err bytes\n")
    tl.shutdown()

    assert lines(exporter, "tasklogs.stdout") == [
        "text then bytes",
        "\N{SNOWMAN}",
        "bad \N{REPLACEMENT CHARACTER} byte",
    ]
    assert lines(exporter, "tasklogs.stderr") == ["err bytes"]
    out, err = capsysbinary.readouterr()
    assert out == b"text then bytes\n" + snowman + b"\nbad \xff byte\n"
    assert err == b"err bytes\n"


def test_tee_looks_like_a_text_stream(exporter: InMemoryLogRecordExporter) -> None:
    original = sys.stdout
    tl = start(exporter)
    try:
        tee = sys.stdout
        assert isinstance(tee, TeeTextStream)
        assert tee.original is original
        assert tee.encoding == original.encoding
        assert tee.errors == original.errors
        assert tee.isatty() == original.isatty()
        assert tee.writable()
        assert not tee.readable()
        assert tee.write("x\n") == 2
        tee.writelines(["a", "b\n"])
        tee.flush()
        assert tee.buffer.write(memoryview(b"mv\n")) == 3
    finally:
        tl.shutdown()
    assert sys.stdout is original
    assert lines(exporter, "tasklogs.stdout") == ["x", "ab", "mv"]


def test_capture_from_many_threads_keeps_lines_whole(
    exporter: InMemoryLogRecordExporter, capsys: pytest.CaptureFixture[str]
) -> None:
    tl = start(exporter)
    n_threads, n_lines = 4, 200

    def work(t: int) -> None:
        # One write per line: print() makes two writes (text, then "\n"), which
        # threads interleave on a plain stream too.
        for i in range(n_lines):
            if i % 2:
                sys.stdout.write(f"thread-{t} line-{i}\n")
            else:
                sys.stdout.buffer.write(f"thread-{t} line-{i}\n".encode())

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    tl.shutdown()

    got = lines(exporter, "tasklogs.stdout")
    assert len(got) == n_threads * n_lines
    for t in range(n_threads):
        assert [b for b in got if b.startswith(f"thread-{t} ")] == [
            f"thread-{t} line-{i}" for i in range(n_lines)
        ]
    seqs = [attrs(r)[semconv.SEQ] for r in exporter.get_finished_logs()]
    assert seqs == list(range(1, n_threads * n_lines + 1))
    assert capsys.readouterr().out.count("\n") == n_threads * n_lines


def test_logging_records_carry_identity_and_seq(exporter: InMemoryLogRecordExporter) -> None:
    tl = start(
        exporter,
        task_run_id="tr-9",
        pipeline_run_id="pr-3",
        task_name="compile",
        pipeline_name="build",
        attempt=2,
        capture_output=False,
    )
    log = logging.getLogger("app.module")
    log.info("hello %s", "world")
    log.debug("below the level")
    log.error("bad thing", extra={"order_id": 17})
    tl.shutdown()

    records = exporter.get_finished_logs()
    assert [r.log_record.body for r in records] == ["hello world", "bad thing"]
    assert [attrs(r)[semconv.SEQ] for r in records] == [1, 2]
    assert records[0].log_record.severity_number == SeverityNumber.INFO
    assert records[1].log_record.severity_number == SeverityNumber.ERROR
    assert attrs(records[1])["order_id"] == 17
    assert records[0].instrumentation_scope is not None
    assert records[0].instrumentation_scope.name == "app.module"
    resource = dict(records[0].resource.attributes)
    assert resource[semconv.TASK_RUN_ID] == "tr-9"
    assert resource[semconv.PIPELINE_RUN_ID] == "pr-3"
    assert resource[semconv.TASK_NAME] == "compile"
    assert resource[semconv.PIPELINE_NAME] == "build"
    assert resource[semconv.ATTEMPT] == 2
    assert resource[semconv.SERVICE_NAME] == "compile"


def test_internal_loggers_are_not_forwarded(exporter: InMemoryLogRecordExporter) -> None:
    tl = start(exporter, capture_output=False)
    for name in (
        "opentelemetry.exporter.otlp.proto.grpc.exporter",
        "opentelemetry",
        "grpc._channel",
        "otel_sdk_ext._task_logging",
    ):
        logging.getLogger(name).error("internal %s", name)
    logging.getLogger("application").error("kept")
    tl.shutdown()
    assert [r.log_record.body for r in exporter.get_finished_logs()] == ["kept"]


def test_root_logger_is_restored(exporter: InMemoryLogRecordExporter) -> None:
    root = logging.getLogger()
    level_before = root.level
    handlers_before = list(root.handlers)
    tl = start(exporter, capture_output=False, level=logging.DEBUG)
    assert root.level == logging.DEBUG
    assert len(root.handlers) == len(handlers_before) + 1
    tl.shutdown()
    assert root.level == level_before
    assert root.handlers == handlers_before


def test_stderr_handler_output_does_not_recurse(
    exporter: InMemoryLogRecordExporter, capsys: pytest.CaptureFixture[str]
) -> None:
    tl = start(exporter)
    handler = logging.StreamHandler(sys.stderr)  # writes into the stderr tee
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        logging.getLogger("opentelemetry.sdk").warning("sdk complains")
        logging.getLogger("app").warning("app says")
    finally:
        root.removeHandler(handler)
        tl.shutdown()
    # The handler's output is an ordinary stderr line; the OTel logger itself is not
    # forwarded by the OTel handler.
    assert lines(exporter, "tasklogs.stderr") == [
        "opentelemetry.sdk: sdk complains",
        "app: app says",
    ]
    assert lines(exporter, "app") == ["app says"]
    assert capsys.readouterr().err == "opentelemetry.sdk: sdk complains\napp: app says\n"


def test_emit_task_end(exporter: InMemoryLogRecordExporter) -> None:
    tl = start(exporter, capture_output=False)
    tl.emit_task_end(0)
    tl.emit_task_end(3)
    tl.emit_task_end(130, "cancellation")
    tl.shutdown()
    records = exporter.get_finished_logs()
    assert [r.log_record.event_name for r in records] == [semconv.EVENT_TASK_END] * 3
    assert [r.log_record.body for r in records] == [
        "task ended with exit code 0",
        "task ended with exit code 3",
        "task ended with exit code 130",
    ]
    assert [attrs(r)[semconv.TASK_RUN_RESULT] for r in records] == [
        "success",
        "failure",
        "cancellation",
    ]
    assert [attrs(r)[semconv.PROCESS_EXIT_CODE] for r in records] == [0, 3, 130]
    assert [r.log_record.severity_number for r in records] == [
        SeverityNumber.INFO,
        SeverityNumber.ERROR,
        SeverityNumber.ERROR,
    ]


def test_task_end_comes_after_pending_partial_line(
    exporter: InMemoryLogRecordExporter, capsys: pytest.CaptureFixture[str]
) -> None:
    tl = start(exporter)
    print("no newline", end="")
    tl.emit_task_end(0)
    tl.shutdown()
    assert [r.log_record.body for r in exporter.get_finished_logs()] == [
        "no newline",
        "task ended with exit code 0",
    ]
    assert capsys.readouterr().out == "no newline"


def test_bad_arguments_raise_config_error(exporter: InMemoryLogRecordExporter) -> None:
    with pytest.raises(ConfigError, match="schedule_delay_ms"):
        start(exporter, schedule_delay_ms=0)
    with pytest.raises(ConfigError, match="TASKLOGS_TASK_RUN_ID"):
        otel_sdk_ext.configure(_exporter=exporter)
    tl = start(exporter, capture_output=False)
    try:
        with pytest.raises(ConfigError, match="stream"):
            tl.emit_line("stdin", "x")  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="exit_code"):
            tl.emit_task_end(True)
    finally:
        tl.shutdown()


def test_shutdown_is_idempotent_and_configure_replaces(
    exporter: InMemoryLogRecordExporter, capsys: pytest.CaptureFixture[str]
) -> None:
    original = sys.stdout
    first = start(exporter)
    assert active() is first
    second_exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    second = start(second_exporter, task_run_id="run-2")
    assert first.closed
    assert active() is second
    assert isinstance(sys.stdout, TeeTextStream)
    assert sys.stdout.original is original  # not a tee of the first tee
    print("to the second")
    otel_sdk_ext.shutdown()
    otel_sdk_ext.shutdown()
    second.shutdown()
    assert active() is None
    assert sys.stdout is original
    assert not second.flush()
    second.emit_line("stdout", "after shutdown")  # silently ignored
    assert lines(exporter, "tasklogs.stdout") == []
    assert lines(second_exporter, "tasklogs.stdout") == ["to the second"]
    assert capsys.readouterr().out == "to the second\n"


def test_exit_hook_shuts_down(
    exporter: InMemoryLogRecordExporter, capsys: pytest.CaptureFixture[str]
) -> None:
    original = sys.stdout
    tl = start(exporter)
    print("pending", end="")
    tl._at_exit()  # what atexit runs
    assert tl.closed
    assert sys.stdout is original
    assert lines(exporter, "tasklogs.stdout") == ["pending"]
    assert capsys.readouterr().out == "pending"


def test_real_otlp_exporter_is_built_and_stopped_without_traffic(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    started = time.monotonic()
    run_id = f"r-{uuid.uuid4()}"
    tl = otel_sdk_ext.configure(task_run_id=run_id, capture_output=False)
    try:
        assert isinstance(tl.logger_provider, LoggerProvider)
        assert tl.identity.task_run_id == run_id
    finally:
        tl.shutdown()
    assert time.monotonic() - started < 5


def test_endpoint_resolution() -> None:
    def endpoint(env: dict[str, str], **kw: Any) -> str:
        return Settings.from_env(env, **kw).endpoint

    assert endpoint({}) == DEFAULT_GRPC_ENDPOINT == "http://127.0.0.1:4317"
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://general:4317"}
    assert endpoint(env) == "http://general:4317"
    env["OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"] = "https://logs:4317"
    assert endpoint(env) == "https://logs:4317"
    assert endpoint(env, endpoint="http://arg:1234") == "http://arg:1234"
    assert insecure_for("http://x:1") is True
    assert insecure_for("HTTPS://x:1") is False
    assert insecure_for("x:1") is None


def test_after_fork_the_child_keeps_shipping_on_the_same_sequence(
    exporter: InMemoryLogRecordExporter, capsys: pytest.CaptureFixture[str]
) -> None:
    tl = start(exporter)
    print("parent line")
    tl.flush()  # what is still queued at fork time is the parent's to send
    tl._after_fork_in_child()  # what os.register_at_fork runs in a child
    print("child line")
    logging.getLogger("app").warning("child record")
    tl.shutdown()
    records = exporter.get_finished_logs()
    assert [r.log_record.body for r in records] == ["parent line", "child line", "child record"]
    assert [attrs(r)[semconv.SEQ] for r in records] == [1, 2, 3]
    assert capsys.readouterr().out == "parent line\nchild line\n"


def test_seq_continues_when_the_same_task_run_is_configured_again(
    exporter: InMemoryLogRecordExporter,
) -> None:
    run_id = f"again-{uuid.uuid4()}"
    first = start(exporter, task_run_id=run_id, capture_output=False)
    first.emit_line("stdout", "one")
    first.emit_line("stdout", "two")
    second_exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    second = start(second_exporter, task_run_id=run_id, capture_output=False)
    second.emit_line("stdout", "three")
    second.shutdown()
    other_exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    other = start(other_exporter, capture_output=False)  # another task run: from 1
    other.emit_line("stdout", "other")
    other.shutdown()
    assert [attrs(r)[semconv.SEQ] for r in exporter.get_finished_logs()] == [1, 2]
    assert [attrs(r)[semconv.SEQ] for r in second_exporter.get_finished_logs()] == [3]
    assert [attrs(r)[semconv.SEQ] for r in other_exporter.get_finished_logs()] == [1]
