"""`tasklogs logs -f`, real processes against a real `tasklogs serve` (chDB; Redis for the
restart): --until-done exit codes, a run's tasks that start later, Ctrl-C and --after,
and a follow that survives the service being restarted mid-stream."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.collector_service.cli.support import Follower, cli, serve, wait_stored
from tests.e2e.durability_support import request, send
from tests.redis_support import SHARED_URL, RedisTarget
from tests.support import RunningService, tasklogs


def _run(svc: RunningService, tid: str, run_id: str, name: str, script: str) -> int:
    proc = tasklogs(
        "run", "--task-run-id", tid, "--pipeline-run-id", run_id, "--task-name", name,
        "--endpoint", svc.grpc_endpoint, "--", "sh", "-c", script,
    )  # fmt: skip
    return proc.returncode


def _lines(n: int, prefix: str = "line") -> str:
    return f"i=1; while [ $i -le {n} ]; do echo {prefix} $i; i=$((i+1)); sleep 0.01; done"


def test_until_done_exits_with_the_task_exit_code_and_every_line(
    cli_service: RunningService, tmp_path: Path
) -> None:
    tid = f"tr-{uuid.uuid4()}"
    follower = Follower.start(tmp_path, cli_service, tid, "-f", "--until-done", "-o", "raw")
    try:
        time.sleep(1.0)  # following before the task exists: it waits for it
        assert _run(cli_service, tid, f"run-{uuid.uuid4()}", "t", f"{_lines(50)}; exit 3") == 3
        assert follower.wait() == 3, follower.stderr()
    finally:
        follower.kill()
    expected = ["task started", *[f"line {i}" for i in range(1, 51)], "task ended with exit code 3"]
    assert follower.lines() == expected
    # A task that already ended: the same, at once; success is 0, -f alone is 0.
    again = cli(cli_service, "logs", tid, "--until-done", "-o", "raw")
    assert again.returncode == 3
    assert again.stdout.splitlines() == expected
    assert cli(cli_service, "logs", tid, "-f", "--tail", "1").returncode == 0
    ok = f"tr-{uuid.uuid4()}"
    assert _run(cli_service, ok, f"run-{uuid.uuid4()}", "t", "echo fine") == 0
    assert cli(cli_service, "logs", ok, "--until-done").returncode == 0


def test_tail_zero_follow_shows_only_new_lines(cli_service: RunningService, tmp_path: Path) -> None:
    tid = f"tr-{uuid.uuid4()}"
    run_id = f"run-{uuid.uuid4()}"
    script = f"{_lines(5, 'old')}; sleep 4; {_lines(3, 'new')}"
    runner = threading.Thread(target=_run, args=(cli_service, tid, run_id, "t", script))
    runner.start()
    try:
        wait_stored(cli_service, tid, 6)
        follower = Follower.start(tmp_path, cli_service, tid, "-f", "--tail", "0", "-o", "raw")
        try:
            assert follower.wait() == 0, follower.stderr()
        finally:
            follower.kill()
    finally:
        runner.join()
    assert follower.lines() == ["new 1", "new 2", "new 3", "task ended with exit code 0"]


def test_run_follow_takes_tasks_that_start_later_and_resumes_after_ctrl_c(
    cli_service: RunningService, tmp_path: Path
) -> None:
    run_id = f"run-{uuid.uuid4()}"
    everything = Follower.start(
        tmp_path, cli_service, "--run", run_id, "-f", "--no-timestamps", "--color", "never"
    )
    only_late = Follower.start(tmp_path, cli_service, "--run", run_id, "-f", "--task", "late")
    as_json = Follower.start(tmp_path, cli_service, "--run", run_id, "-f", "-o", "json")
    try:
        time.sleep(1.0)
        assert _run(cli_service, f"tr-{uuid.uuid4()}", run_id, "early", _lines(5, "e")) == 0
        assert _run(cli_service, f"tr-{uuid.uuid4()}", run_id, "late", _lines(5, "l")) == 0
        everything.wait_for_lines(lambda ls: sum("task ended" in x for x in ls) == 2)
        only_late.wait_for_lines(lambda ls: any("task ended" in x for x in ls))
        assert everything.interrupt() == 130
        time.sleep(0.5)
        assert only_late.interrupt() == 130
        assert as_json.interrupt() == 130
    finally:
        everything.kill()
        only_late.kill()
        as_json.kill()
    records = json.loads(as_json.out.read_text(encoding="utf-8"))  # a closed JSON array
    assert len(records) == 14
    shown = everything.lines()
    assert sorted(x for x in shown if " e " in x) == [f"early INFO  e {i}" for i in range(1, 6)]
    assert sorted(x for x in shown if " l " in x) == [f"late  INFO  l {i}" for i in range(1, 6)]
    assert len(shown) == 14  # each task: start, 5 lines, end; each once
    late = only_late.lines()
    assert len(late) == 7
    assert all(" l " in x or "task " in x for x in late)
    # Ctrl-C told where to continue; a later task then shows up after that cursor only.
    found = re.search(r"--after (\S+)", everything.stderr())
    assert found is not None, everything.stderr()
    assert _run(cli_service, f"tr-{uuid.uuid4()}", run_id, "last", _lines(3, "z")) == 0
    resumed = Follower.start(
        tmp_path, cli_service, "--run", run_id, "-f", "--after", found.group(1), "-o", "raw"
    )
    try:
        resumed.wait_for_lines(lambda ls: "task ended with exit code 0" in ls)
        time.sleep(1.0)
        assert resumed.interrupt() == 130
    finally:
        resumed.kill()
    assert resumed.lines() == ["task started", "z 1", "z 2", "z 3", "task ended with exit code 0"]


@pytest.fixture
def redis_prefix() -> Iterator[RedisTarget]:
    target = RedisTarget(SHARED_URL, False, f"t{uuid.uuid4().hex[:10]}")
    yield target
    client = redis.Redis.from_url(SHARED_URL)
    try:
        for pattern in (f"{target.key_prefix}:*", f"{{{target.key_prefix}:*"):
            for key in list(client.scan_iter(match=pattern, count=1000)):
                client.delete(key)
    finally:
        client.close()


def test_a_follow_survives_a_service_restart_with_every_line_once(
    tmp_path: Path, redis_prefix: RedisTarget
) -> None:
    svc, config = serve(tmp_path, redis_prefix.yaml())
    tid = f"tr-{uuid.uuid4()}"
    follower = Follower.start(tmp_path, svc, tid, "-f", "-o", "raw")
    total, per = 300, 5
    payloads = [(request(tid, s, per, body="msg"), per) for s in range(1, total + 1, per)]
    sender = threading.Thread(target=send, args=(svc.grpc_endpoint.removeprefix("http://"),
                                                 payloads), kwargs={"pause": 0.05})  # fmt: skip
    try:
        sender.start()
        follower.wait_for_lines(lambda ls: len(ls) >= 40)
        svc.stop()  # mid-stream: the sender retries, the follower reconnects
        svc.restart(config)
        sender.join(120)
        follower.wait_for_lines(lambda ls: len(ls) >= total, timeout=60)
        time.sleep(1.0)  # anything extra (a duplicate) would land now
        assert follower.interrupt() == 130
    finally:
        follower.kill()
        svc.stop()
    assert follower.lines() == [f"msg {i}" for i in range(1, total + 1)]
    err = follower.stderr()
    assert "reconnecting" in err
    assert "reconnected" in err
    assert re.search(r"--after \S+", err)
