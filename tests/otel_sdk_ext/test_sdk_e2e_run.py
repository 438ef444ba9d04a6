"""`tasklogs run -- CMD` as a real process against a real `tasklogs serve`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from otel_sdk_ext._lines import TRUNCATED_MARKER
from tests.otel_sdk_ext._proc import (
    bodies,
    child_env,
    events,
    new_run_id,
    start_service_again,
    stop_service,
    wait_for_end,
)
from tests.support import REPO, RunningService, free_port, tasklogs_cmd

pytestmark = pytest.mark.e2e


def run_cmd(service_endpoint: str, run_id: str, *cmd: str, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        tasklogs_cmd("run", "--task-run-id", run_id, "--endpoint", service_endpoint, "--", *cmd),
        env=child_env(None, run_id, **env),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_exit_code_streams_apart_and_terminal_lines(service: RunningService) -> None:
    run_id = new_run_id("run")
    script = (
        "echo out-1; echo err-1 >&2; printf 'progress 1%%\\rprogress 50%%\\rprogress 100%%\\n'; "
        "printf 'prompt: '; sleep 1; echo answer; "
        "head -c 300 /dev/zero | tr '\\0' y; echo; printf 'bad \\377\\n'; exit 7"
    )
    with run_cmd(
        service.grpc_endpoint,
        run_id,
        "sh",
        "-c",
        script,
        TASKLOGS_MAX_LINE_CHARS="100",
        TASKLOGS_LONG_LINES="truncate",
        TASKLOGS_PARTIAL_LINE_FLUSH_MS="200",
    ) as proc:
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 7
    assert out.startswith(b"out-1\nprogress 1%\rprogress 50%\rprogress 100%\nprompt: answer\n")
    assert out.endswith(b"bad \xff\n")
    assert err == b"err-1\n"
    records = wait_for_end(service, run_id)
    assert [int(r["seq"]) for r in sorted(records, key=lambda r: int(r["seq"]))] == list(
        range(1, len(records) + 1)
    )
    (start,) = events(records, "tasklogs.task.start")
    assert int(start["seq"]) == 1
    assert start["log_attributes"]["process.command_line"].startswith("sh -c ")
    stdout = [
        r
        for r in sorted(records, key=lambda r: int(r["seq"]))
        if r["scope_name"] == "tasklogs.stdout"
    ]
    text = [r["body"] for r in stdout]
    assert text[:4] == ["out-1", "progress 100%", "prompt: ", "answer"]
    assert stdout[2]["log_attributes"]["tasklogs.line.partial"] in ("true", "True")
    assert text[4] == "y" * 100 + TRUNCATED_MARKER
    assert stdout[4]["log_attributes"]["tasklogs.line.original_length"] == "300"
    assert text[5] == "bad \ufffd"
    assert bodies(records, "tasklogs.stderr") == ["err-1"]
    assert {r["log_attributes"]["log.iostream"] for r in stdout} == {"stdout"}
    (end,) = events(records, "tasklogs.task.end")
    assert end["log_attributes"]["process.exit.code"] == "7"
    assert end["log_attributes"]["cicd.pipeline.task.run.result"] == "failure"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signals_are_forwarded_to_the_child(service: RunningService, signum: int) -> None:
    run_id = new_run_id("sig")
    child = (
        "import signal, sys, time\n"
        "def bye(n, f):\n"
        "    print(f'child got {signal.Signals(n).name}', flush=True)\n"
        "    sys.exit(42)\n"
        "signal.signal(signal.SIGINT, bye)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    with run_cmd(service.grpc_endpoint, run_id, sys.executable, "-c", child) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        proc.send_signal(signum)
        out, _ = proc.communicate(timeout=90)  # generous: a loaded CI machine
    name = signal.Signals(signum).name
    assert out == f"child got {name}\n".encode()
    assert proc.returncode == 42  # the child's own exit code, passed through
    records = wait_for_end(service, run_id)
    assert bodies(records, "tasklogs.stdout") == ["ready", f"child got {name}"]
    (end,) = events(records, "tasklogs.task.end")
    assert end["log_attributes"]["cicd.pipeline.task.run.result"] == "cancellation"
    assert end["log_attributes"]["process.exit.code"] == "42"


def test_collector_down_at_start_buffers_and_delivers(
    service: RunningService, tmp_path: Path
) -> None:
    run_id = new_run_id("late")
    stop_service(service)
    try:
        with run_cmd(
            service.grpc_endpoint,
            run_id,
            "sh",
            "-c",
            "for i in $(seq 1 30); do echo line $i; sleep 0.1; done",
            TASKLOGS_FLUSH_TIMEOUT_S="30",
        ) as proc:
            time.sleep(1.0)
            start_service_again(service, tmp_path / "tasklogs.yaml")
            _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
        records = wait_for_end(service, run_id)
    finally:
        if service.process.poll() is None:
            stop_service(service)
    assert bodies(records, "tasklogs.stdout") == [f"line {i}" for i in range(1, 31)]
    assert b"could not be delivered" not in err


def test_collector_never_up_reports_and_keeps_the_exit_code() -> None:
    run_id = new_run_id("never")
    dead = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with run_cmd(
        dead, run_id, "sh", "-c", "echo hello; exit 5", TASKLOGS_FLUSH_TIMEOUT_S="1"
    ) as proc:
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 5
    assert out == b"hello\n"
    assert time.monotonic() - started < 15
    text = err.decode()
    assert "3 log records could not be delivered" in text  # start, the line, end
    assert dead in text
    assert os.environ.get("TASKLOGS_TASK_RUN_ID") != run_id
