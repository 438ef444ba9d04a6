"""Lifecycle records and the exit flush, from real child processes to a real receiver."""

from __future__ import annotations

import signal
import time

import pytest

from tests.otel_sdk_ext._proc import (
    bodies,
    child_env,
    events,
    new_run_id,
    run_python,
    start_python,
    wait_for_end,
)
from tests.support import RunningService

pytestmark = pytest.mark.e2e


def test_task_context_manager_records_start_end_and_the_traceback(
    service: RunningService,
) -> None:
    run_id = new_run_id("cm")
    proc = run_python(
        """
        import otel_sdk_ext
        def explode():
            raise ValueError("bad input 42")
        with otel_sdk_ext.task(task_name="cm-task"):
            print("working")
            explode()
        """,
        child_env(service, run_id),
    )
    assert proc.returncode == 1
    assert b"ValueError: bad input 42" in proc.stderr  # Python still reports it
    records = wait_for_end(service, run_id)
    start = events(records, "tasklogs.task.start")
    end = events(records, "tasklogs.task.end")
    assert len(start) == 1
    assert int(start[0]["seq"]) == 1
    assert len(end) == 1
    assert end[0]["log_attributes"]["cicd.pipeline.task.run.result"] == "failure"
    assert end[0]["log_attributes"]["process.exit.code"] == "1"
    assert end[0]["log_attributes"]["tasklogs.dropped_records"] == "0"
    exc = next(r for r in records if "exception.type" in r["log_attributes"])
    assert exc["log_attributes"]["exception.type"] == "ValueError"
    assert exc["log_attributes"]["exception.message"] == "bad input 42"
    assert "in explode" in exc["body"]
    assert exc["body"].startswith("Traceback (most recent call last):")
    assert bodies(records, "tasklogs.stdout") == ["working"]
    assert int(end[0]["seq"]) == len(records)  # the end is the last record


def test_decorator_passes_sys_exit_code_through(service: RunningService) -> None:
    run_id = new_run_id("deco")
    proc = run_python(
        """
        import sys, otel_sdk_ext
        @otel_sdk_ext.task()
        def main():
            print("about to exit")
            sys.exit(3)
        main()
        """,
        child_env(service, run_id),
    )
    assert proc.returncode == 3
    records = wait_for_end(service, run_id)
    (end,) = events(records, "tasklogs.task.end")
    assert end["log_attributes"]["process.exit.code"] == "3"
    assert end["log_attributes"]["cicd.pipeline.task.run.result"] == "failure"
    assert not [r for r in records if "exception.type" in r["log_attributes"]]
    assert bodies(records, "tasklogs.stdout") == ["about to exit"]


def test_sigterm_flushes_and_records_a_cancellation(service: RunningService) -> None:
    run_id = new_run_id("term")
    proc = start_python(
        """
        import sys, time, otel_sdk_ext
        with otel_sdk_ext.task(schedule_delay_ms=60000):  # nothing leaves before exit
            for i in range(100):
                print(f"line {i}")
            print("ready", file=sys.stderr, flush=True)
            time.sleep(60)
        """,
        child_env(service, run_id),
    )
    with proc:
        assert proc.stderr is not None
        assert proc.stderr.readline() == b"ready\n"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 143
    records = wait_for_end(service, run_id)
    assert bodies(records, "tasklogs.stdout") == [f"line {i}" for i in range(100)]
    (end,) = events(records, "tasklogs.task.end")
    assert end["log_attributes"]["cicd.pipeline.task.run.result"] == "cancellation"
    assert end["log_attributes"]["process.exit.code"] == "143"


def test_uncaught_exception_without_task_is_flushed(service: RunningService) -> None:
    run_id = new_run_id("uncaught")
    proc = run_python(
        """
        import logging, otel_sdk_ext
        otel_sdk_ext.configure(schedule_delay_ms=60000)
        logging.getLogger("app").error("before the crash")
        raise RuntimeError("uncaught")
        """,
        child_env(service, run_id),
    )
    assert proc.returncode == 1
    records = service.wait_for(run_id, 3)
    assert bodies(records, "app") == ["before the crash"]
    stderr = bodies(records, "tasklogs.stderr")
    assert stderr[0] == "Traceback (most recent call last):"
    assert stderr[-1] == "RuntimeError: uncaught"


def test_records_leave_the_process_while_it_runs(service: RunningService) -> None:
    run_id = new_run_id("latency")
    proc = start_python(
        """
        import sys, time, otel_sdk_ext
        otel_sdk_ext.configure()
        print("early line", flush=True)
        time.sleep(30)
        """,
        child_env(service, run_id),
    )
    with proc:
        deadline = time.monotonic() + 20
        records: list[dict[str, object]] = []
        while time.monotonic() < deadline and not records:
            records = service.history(run_id)
            time.sleep(0.05)
        assert proc.poll() is None  # still running: delivered by the export thread
        proc.kill()
        assert [r["body"] for r in records] == ["early line"]
