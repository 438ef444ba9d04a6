"""`tasklogs runs`, `tasklogs tasks RUN_ID`, and `logs --run` with --until-done and
--failed, real processes against a real `tasklogs serve` with the runs index (chDB)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from tests.collector_service.cli.support import Follower, cli, wait_until
from tests.support import RunningService, tasklogs, tasklogs_cmd


def _run(svc: RunningService, tid: str, run_id: str, name: str, script: str) -> None:
    tasklogs(
        "run", "--task-run-id", tid, "--pipeline-run-id", run_id, "--task-name", name,
        "--endpoint", svc.grpc_endpoint, "--", "sh", "-c", script,
    )  # fmt: skip


def _start(svc: RunningService, tid: str, run_id: str, name: str, script: str) -> threading.Thread:
    thread = threading.Thread(target=_run, args=(svc, tid, run_id, name, script))
    thread.start()
    return thread


def _view(svc: RunningService, run_id: str) -> dict[str, Any]:
    proc = cli(svc, "tasks", run_id, "-o", "json")
    if proc.returncode != 0:
        return {"run": {"status": "absent"}, "tasks": []}
    view: dict[str, Any] = json.loads(proc.stdout)
    return view


def _statuses(svc: RunningService, run_id: str) -> dict[str, str]:
    return {t["task_name"]: t["status"] for t in _view(svc, run_id)["tasks"]}


def test_runs_and_tasks_show_live_status_changes(cli_service: RunningService) -> None:
    run_id = f"run-{uuid.uuid4()}"
    slow, bad = f"tr-{uuid.uuid4()}", f"tr-{uuid.uuid4()}"
    threads = [
        _start(cli_service, slow, run_id, "slow", "echo begin; sleep 15; echo done"),
        _start(cli_service, bad, run_id, "bad", "echo trouble >&2; exit 2"),
    ]
    try:
        wait_until(
            "slow running and bad failed",
            lambda: _statuses(cli_service, run_id) == {"slow": "running", "bad": "failed"},
        )
        # --watch redraws until the run is over, then exits with its result.
        watch = subprocess.Popen(
            tasklogs_cmd("tasks", run_id, "--watch", "--interval", "0.5", "--api-url",
                         cli_service.api_url),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        text = cli(cli_service, "tasks", run_id, "--color", "never")
        assert text.returncode == 0, text.stderr
        rows = {line.split()[2]: line for line in text.stdout.splitlines() if "tr-" in line}
        assert "running" in rows["slow"]
        assert "failed" in rows["bad"]
        assert " 2 " in rows["bad"]  # the exit code
        runs = cli(cli_service, "runs", "--color", "never")
        assert runs.returncode == 0, runs.stderr
        assert run_id in runs.stdout
        listed = json.loads(cli(cli_service, "runs", "-o", "json", "-q", run_id).stdout)
        assert [r["run_id"] for r in listed] == [run_id]
        assert listed[0]["task_count"] == 2
        out, err = watch.communicate(timeout=60)
        assert watch.returncode == 1, err
        assert "succeeded" in out
        assert "running" in out  # it saw the change happen
    finally:
        for thread in threads:
            thread.join()
    assert _statuses(cli_service, run_id) == {"slow": "succeeded", "bad": "failed"}
    view = _view(cli_service, run_id)
    assert view["run"]["status"] == "failed"
    by_name = {t["task_name"]: t for t in view["tasks"]}
    assert by_name["bad"]["exit_code"] == 2
    assert by_name["slow"]["exit_code"] == 0
    failed_runs = json.loads(cli(cli_service, "runs", "-o", "json", "--status", "failed").stdout)
    assert run_id in {r["run_id"] for r in failed_runs}


def test_run_until_done_and_failed_tasks(cli_service: RunningService, tmp_path: Path) -> None:
    run_id = f"run-{uuid.uuid4()}"
    ok, bad = f"tr-{uuid.uuid4()}", f"tr-{uuid.uuid4()}"
    follower = Follower.start(tmp_path, cli_service, "--run", run_id, "--until-done", "-o", "raw")
    failed_only = Follower.start(tmp_path, cli_service, "--run", run_id, "-f", "--failed")
    try:
        time.sleep(1.0)
        threads = [
            _start(cli_service, ok, run_id, "ok", "echo fine; sleep 2; echo still fine"),
            _start(cli_service, bad, run_id, "bad", "echo broken; exit 4"),
        ]
        for thread in threads:
            thread.join()
        assert follower.wait(60) == 1, follower.stderr()  # the run failed
        failed_only.wait_for_lines(lambda ls: any("broken" in x for x in ls))
        time.sleep(1.0)
        assert failed_only.interrupt() == 130
    finally:
        follower.kill()
        failed_only.kill()
    assert sorted(follower.lines()) == sorted([
        "task started", "fine", "still fine", "task ended with exit code 0",
        "task started", "broken", "task ended with exit code 4",
    ])  # fmt: skip
    # A run's lines come in the order their batches arrived (not always by seq).
    assert sorted(x.split(None, 3)[-1] for x in failed_only.lines()) == [
        "broken", "task ended with exit code 4", "task started",
    ]  # fmt: skip
    stored = cli(cli_service, "logs", "--run", run_id, "--failed", "-o", "jsonl")
    assert {json.loads(x)["task_run_id"] for x in stored.stdout.splitlines()} == {bad}
    again = cli(cli_service, "logs", "--run", run_id, "--until-done", "-o", "raw")
    assert again.returncode == 1
    good = f"run-{uuid.uuid4()}"
    _run(cli_service, f"tr-{uuid.uuid4()}", good, "ok", "echo fine")
    wait_until("the index", lambda: _view(cli_service, good)["run"]["status"] == "succeeded")
    assert cli(cli_service, "logs", "--run", good, "--until-done").returncode == 0
