"""History, filters and downloads over real HTTP against the chDB store."""

from __future__ import annotations

import csv
import io
import json

from tests.live_tail.conftest import Live
from tests.live_tail.support import make_batch


async def test_history_filters(live: Live) -> None:
    live.publish(make_batch("tr-h", range(1, 6), body="ok {seq}"))
    live.publish(make_batch("tr-h", range(6, 9), severity=17, body="boom {seq}"))
    c = live.client

    async def seqs(query: str) -> list[int]:
        resp = await c.get(f"/api/v1/tasks/tr-h/logs?{query}")
        assert resp.status_code == 200, resp.text
        return [r["seq"] for r in resp.json()["records"]]

    assert await seqs("") == list(range(1, 9))
    assert await seqs("min_severity=17") == [6, 7, 8]
    assert await seqs("min_severity=error") == [6, 7, 8]
    assert await seqs("include=^boom&exclude=7$") == [6, 8]
    assert await seqs("text=BOOM") == [6, 7, 8]
    assert await seqs("attr=tasklogs.seq=3") == [3]
    assert await seqs("attr=cicd.pipeline.task.name=build&attr=tasklogs.seq=4") == [4]
    assert await seqs("task_name=nope") == []
    bad = await c.get("/api/v1/tasks/tr-h/logs?attr=novalue")
    assert bad.status_code == 400
    assert (await c.get("/api/v1/tasks/tr-h/logs?min_severity=99")).status_code == 400


async def test_history_pages(live: Live) -> None:
    live.publish(make_batch("tr-p", range(1, 26)))
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 10}
        if cursor:
            params["cursor"] = cursor
        body = (await live.client.get("/api/v1/tasks/tr-p/logs", params=params)).json()
        seen.extend(r["seq"] for r in body["records"])
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == list(range(1, 26))


async def test_download_every_format_streams_all_pages(live: Live) -> None:
    for start in range(1, 12_001, 4000):
        live.publish(make_batch("tr-d", range(start, start + 4000)), live=False)
    c = live.client
    text = await c.get("/api/v1/tasks/tr-d/logs/download?format=text")
    assert text.headers["content-type"].startswith("text/plain")
    lines = text.text.splitlines()
    assert len(lines) == 12_000
    assert lines[0].endswith("INFO  line 1")
    assert lines[-1].endswith("line 12000")
    nd = await c.get("/api/v1/tasks/tr-d/logs/download?format=ndjson&min_severity=9")
    records = [json.loads(x) for x in nd.text.splitlines()]
    assert [r["seq"] for r in records] == list(range(1, 12_001))
    assert nd.headers["content-disposition"] == 'attachment; filename="tr-d.ndjson"'
    cs = await c.get("/api/v1/tasks/tr-d/logs/download?format=csv&include=^line 1$")
    rows = list(csv.reader(io.StringIO(cs.text)))
    assert rows[0][:3] == ["timestamp", "seq", "severity_text"]
    assert [r[1] for r in rows[1:]] == ["1"]
    assert (await c.get("/api/v1/tasks/tr-d/logs/download?format=xml")).status_code == 422


async def test_openapi_documents_every_endpoint(live: Live) -> None:
    doc = (await live.client.get("/openapi.json")).json()
    paths = doc["paths"]
    assert {
        "/healthz",
        "/readyz",
        "/api/v1/auth/stream-token",
        "/api/v1/tasks/{task_run_id}/logs",
        "/api/v1/tasks/{task_run_id}/logs/download",
        "/api/v1/tasks/{task_run_id}/logs/stream",
        "/api/v1/runs/{run_id}/logs/stream",
        "/api/v1/runs",
        "/api/v1/runs/{run_id}",
        "/api/v1/tasks/{task_run_id}",
    } <= set(paths)
    stream = paths["/api/v1/tasks/{task_run_id}/logs/stream"]["get"]
    assert "text/event-stream" in stream["responses"]["200"]["content"]
    # No 404: a stream of an unknown (or another tenant's) task waits for it.
    assert {"401", "429"} <= set(stream["responses"])
    task = paths["/api/v1/tasks/{task_run_id}"]["get"]
    assert task["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "TaskSummary"
    )
    assert {"404", "503"} <= set(task["responses"])
    runs = paths["/api/v1/runs"]["get"]
    assert {"pipeline", "status", "since", "until", "q", "limit", "cursor"} <= {
        p["name"] for p in runs["parameters"]
    }
    params = {p["name"] for p in stream["parameters"]}
    assert {"min_severity", "include", "exclude", "attr", "task_name", "last-event-id"} <= params
    history = paths["/api/v1/tasks/{task_run_id}/logs"]["get"]["responses"]["200"]
    assert history["content"]["application/json"]["schema"]["$ref"].endswith("HistoryResponse")
