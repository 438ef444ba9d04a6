"""The ways out of docs/, against a real ``tasklogs serve``: a task run through
``tasklogs run`` reads back whole through the CLI, the download and SSE (a late joiner,
whose task's batch carried its start and end records under one scope and its output
under another).
"""

from __future__ import annotations

import httpx
import pytest

from tests.support import RunningService, tasklogs

pytestmark = pytest.mark.e2e


def _sse_ids(api_url: str, task_run_id: str) -> list[tuple[str, str]]:
    events: list[tuple[str, str]] = []
    name, ident = "", ""
    with httpx.stream(
        "GET", f"{api_url}/api/v1/tasks/{task_run_id}/logs/stream", timeout=10
    ) as resp:
        for line in resp.iter_lines():
            if line.startswith("id: "):
                ident = line[4:]
            elif line.startswith("event: "):
                name = line[7:]
            elif line == "" and name:
                events.append((name, ident))
                if name == "end":
                    return events
                name = ""
    return events


def test_a_quick_task_reads_back_whole_every_way(service: RunningService) -> None:
    trid, proc = service.run_shell("for i in 1 2 3 4 5 6 7 8; do echo line $i; done; exit 3")
    assert proc.returncode == 3, proc.stderr
    records = service.wait_for(trid, 10)
    assert [r["seq"] for r in records] == list(range(1, 11))
    raw = tasklogs("logs", trid, "--api", service.api_url, "-o", "raw")
    assert raw.stdout.splitlines()[1:9] == [f"line {i}" for i in range(1, 9)]
    text = httpx.get(
        f"{service.api_url}/api/v1/tasks/{trid}/logs/download", params={"format": "text"}
    ).text
    assert len(text.splitlines()) == 10
    events = _sse_ids(service.api_url, trid)
    assert events == [("log", str(i)) for i in range(1, 11)] + [("end", "10")]
