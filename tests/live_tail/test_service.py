"""End to end through a real `tasklogs serve`: a task's lines reach an SSE client live,
then `end`; SIGTERM with open streams tells clients to reconnect and exits promptly."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid

import httpx

from tests.live_tail.support import open_stream
from tests.support import RunningService, tasklogs_cmd


async def test_task_lines_reach_the_sse_client_then_end(service: RunningService) -> None:
    tid = f"tr-{uuid.uuid4()}"
    run = f"run-{uuid.uuid4()}"
    script = "for i in 1 2 3 4 5; do echo line $i; sleep 0.05; done; exit 3"
    async with (
        httpx.AsyncClient(base_url=service.api_url, timeout=30) as client,
        open_stream(client, f"/api/v1/tasks/{tid}/logs/stream") as task,
        open_stream(client, f"/api/v1/runs/{run}/logs/stream") as whole_run,
    ):
        proc = await asyncio.create_subprocess_exec(
            *tasklogs_cmd(
                "run", "--task-run-id", tid, "--pipeline-run-id", run,
                "--endpoint", service.grpc_endpoint, "--", "sh", "-c", script,
            )
        )  # fmt: skip
        assert await asyncio.wait_for(proc.wait(), 60) == 3
        await task.wait(lambda r: r.closed, timeout=30)
        await whole_run.wait(lambda r: any(e.event == "end" for e in r.events), timeout=30)
        metrics = _metrics((await client.get("/metrics")).text)
        assert metrics['tasklogs_live_tail_streams{kind="run"}'] >= 1
        assert metrics['tasklogs_live_tail_sent_log_records_total{kind="task"}'] >= len(task.logs())
    bodies = [e.data["body"] for e in task.logs()]
    assert [b for b in bodies if b.startswith("line")] == [f"line {i}" for i in range(1, 6)]
    seqs = task.seqs()
    assert seqs == sorted(set(seqs))
    end = task.events[-1]
    assert end.event == "end"
    assert end.data["exit_code"] == 3
    assert end.data["result"] == "failure"
    assert [e.data["seq"] for e in whole_run.logs()] == seqs


def _metrics(text: str) -> dict[str, float]:
    return {
        name: float(value)
        for line in text.splitlines()
        if line and not line.startswith("#")
        for name, _, value in [line.rpartition(" ")]
    }


async def test_sigterm_with_open_streams_exits_promptly(service: RunningService) -> None:
    async with (
        httpx.AsyncClient(base_url=service.api_url, timeout=30) as client,
        open_stream(client, "/api/v1/tasks/never-started/logs/stream") as r,
    ):
        await asyncio.sleep(0.3)
        started = time.monotonic()
        service.process.send_signal(signal.SIGTERM)
        await r.wait(lambda r: r.closed, timeout=30)
        assert r.retry == 1000  # told to reconnect (to whichever instance serves next)
        code = await asyncio.to_thread(service.process.wait, 60)
    assert code == 0
    # Stock uvicorn waits for open streams forever; generous for a loaded machine.
    assert time.monotonic() - started < 45
