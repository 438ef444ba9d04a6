"""The runs index over real HTTP: ``/api/v1/runs``, ``/runs/{id}``, ``/tasks/{id}``.

The app serves a real chDB store (and once a real PostgreSQL one) with each bus (in
process, Redis, Redis Cluster). Status is live: the bus's end event moves a task's status
before the store has it. Tenancy: another tenant's run or task is absent and answers
exactly as one that does not exist, and a tenant writing under another's task run id is
refused (counted) and locks nobody out.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from collector_service.auth import AuthConfig, TenantConfig
from collector_service.component.model import LogBatch
from collector_service.metrics import REGISTRY as CORE
from live_tail import create_app
from live_tail.bus import LiveBus
from live_tail.config import LiveTailConfig
from live_tail.exporter import LiveTailExporter
from live_tail.metrics import REGISTRY as LIVE
from tests.exporters.postgres.support import open_postgres_store
from tests.live_tail.conftest import Live
from tests.live_tail.support import BASE_NS, make_batch, open_stream, serve

LiveFactory = Callable[..., contextlib.AbstractAsyncContextManager[Live]]

AUTH = AuthConfig(
    tenants={
        "acme": TenantConfig(tokens=[SecretStr("tok-acme")]),
        "umbrella": TenantConfig(tokens=[SecretStr("tok-umbrella")]),
    },
    signing_key=SecretStr("k" * 32),
)
ACME = {"Authorization": "Bearer tok-acme"}
UMBRELLA = {"Authorization": "Bearer tok-umbrella"}
SEC = 1_000_000_000
NOW = time.time_ns() // SEC * SEC


def batch(
    tid: str,
    seqs: range,
    *,
    at: int,
    run: str,
    tenant: str | None = "acme",
    pipeline: str = "nightly",
    task: str = "build",
    end: tuple[str, int] | None = None,
    severity: int = 9,
) -> LogBatch:
    """``make_batch`` lines, ``at`` seconds after NOW - 100 s, with a pipeline name and an
    optional end record of the given result and exit code."""
    b = make_batch(
        tid, seqs, run=run, tenant=tenant, task_name=task, end=end is not None, severity=severity
    )
    shift = NOW - 100 * SEC + at * SEC - BASE_NS
    b.timestamp = [t + shift for t in b.timestamp]
    for res in {id(r): r for r in b.resource_attributes}.values():
        res["cicd.pipeline.name"] = pipeline
    if end is not None:
        b.log_attributes[-1] |= {
            "cicd.pipeline.task.run.result": end[0],
            "process.exit.code": str(end[1]),
        }
    return b


def metric(registry: Any, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def eventually(fetch: Callable[[], Any], check: Callable[[Any], bool]) -> Any:
    """The store's index is written by the writer: poll briefly until ``check`` holds."""
    deadline = time.monotonic() + 10
    while True:
        got = await fetch()
        if check(got) or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.05)


async def test_runs_newest_first_in_pages_with_filters(live_factory: LiveFactory) -> None:
    async with live_factory(auth=AUTH) as live:
        for i in range(7):
            pipeline = "nightly" if i % 2 == 0 else "release"
            end = ("success", 0) if i < 5 else None
            live.publish(
                batch(f"t{i}", range(1, 4), at=i, run=f"run-{i}", pipeline=pipeline, end=end)
            )
            live.publish(
                batch(
                    f"t{i}-test",
                    range(1, 3),
                    at=i,
                    run=f"run-{i}",
                    pipeline=pipeline,
                    task=f"test-{i}",
                    end=end,
                )
            )
        live.publish(batch("fail", range(1, 3), at=10, run="run-f", end=("failure", 2)))
        c = live.client

        async def ids(**params: str | int) -> list[str]:
            resp = await c.get("/api/v1/runs", params=params, headers=ACME)
            assert resp.status_code == 200, resp.text
            return [r["run_id"] for r in resp.json()["runs"]]

        assert await ids() == ["run-f", *(f"run-{i}" for i in reversed(range(7)))]
        pages, cursor = [], None
        while True:
            params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            body = (await c.get("/api/v1/runs", params=params, headers=ACME)).json()
            pages.append([r["run_id"] for r in body["runs"]])
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert [i for p in pages for i in p] == await ids()
        assert all(len(p) == 3 for p in pages[:-1])
        assert await ids(pipeline="release") == ["run-5", "run-3", "run-1"]
        assert await ids(status="failed") == ["run-f"]
        assert await ids(status="running") == ["run-6", "run-5"]
        assert await ids(status="succeeded", limit=2) == ["run-4", "run-3"]
        since = f"{NOW - 100 * SEC + 2 * SEC}"
        until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((NOW - 100 * SEC) // SEC + 5))
        assert await ids(since=since, until=until) == ["run-4", "run-3", "run-2"]
        assert await ids(q="TEST-3") == ["run-3"]
        assert await ids(q="RELEASE") == ["run-5", "run-3", "run-1"]
        bad = await c.get("/api/v1/runs", params={"cursor": "nope"}, headers=ACME)
        assert bad.status_code == 400
        bad = await c.get("/api/v1/runs", params={"since": "yesterday"}, headers=ACME)
        assert bad.status_code == 400
        one = (await c.get("/api/v1/runs", params={"limit": 1}, headers=ACME)).json()["runs"][0]
        assert one["status"] == "failed"
        assert one["tasks_by_status"] == {"failed": 1}
        assert one["start"].endswith("Z")
        assert one["task_count"] == 1
        assert one["line_count"] == 2
        assert isinstance(one["duration_ms"], float)


async def test_status_moves_with_the_end_event_before_the_store_has_it(live: Live) -> None:
    live.publish(batch("job", range(1, 4), at=0, run="run-s", severity=17))
    c = live.client
    task = await eventually(lambda: c.get("/api/v1/tasks/job"), lambda r: r.status_code == 200)
    body = task.json()
    assert body["status"] == "running"
    assert (body["exit_code"], body["end"], body["duration_ms"]) == (None, None, None)
    assert (body["line_count"], body["error_count"], body["first_error_seq"]) == (3, 3, 1)
    assert (body["run_id"], body["task_name"], body["pipeline_name"]) == (
        "run-s",
        "build",
        "nightly",
    )
    # The end reaches the bus only: the store's writer has not written it yet.
    live.publish(batch("job", range(4, 5), at=1, run="run-s", end=("failure", 3)), store=False)
    body = (await c.get("/api/v1/tasks/job")).json()
    assert (body["status"], body["exit_code"], body["max_seq"]) == ("failed", 3, 4)
    assert body["end_ns"] is not None
    assert body["duration_ms"] == pytest.approx(1000, abs=1)
    run = (await c.get("/api/v1/runs/run-s")).json()
    assert run["run"]["status"] == "failed"
    assert [t["status"] for t in run["tasks"]] == ["failed"]
    listed = (await c.get("/api/v1/runs")).json()["runs"]
    assert [(r["run_id"], r["status"]) for r in listed] == [("run-s", "failed")]
    # A task only the bus knows yet is part of its run at once.
    live.publish(batch("fresh", range(1, 2), at=2, run="run-s", task="later"), store=False)
    run = (await c.get("/api/v1/runs/run-s")).json()
    assert [t["task_run_id"] for t in run["tasks"]] == ["job", "fresh"]
    assert run["tasks"][1]["status"] == "running"
    assert run["run"]["status"] == "failed"


async def test_another_tenants_run_is_absent_and_answers_as_unknown(
    live_factory: LiveFactory,
) -> None:
    async with live_factory(auth=AUTH) as live:
        live.publish(batch("a1", range(1, 3), at=0, run="run-a", tenant="acme"))
        live.publish(batch("u1", range(1, 3), at=1, run="run-u", tenant="umbrella"))
        c = live.client
        runs = (await c.get("/api/v1/runs", headers=ACME)).json()["runs"]
        assert [r["run_id"] for r in runs] == ["run-a"]
        runs = (await c.get("/api/v1/runs", headers=UMBRELLA)).json()["runs"]
        assert [r["run_id"] for r in runs] == ["run-u"]
        for kind, foreign, unknown in (
            ("tasks", "u1", "nope"),
            ("tasks", "u1/logs", "nope/logs"),
            ("tasks", "u1/logs/download", "nope/logs/download"),
            ("runs", "run-u", "run-nope"),
        ):
            theirs = await c.get(f"/api/v1/{kind}/{foreign}", headers=ACME)
            missing = await c.get(f"/api/v1/{kind}/{unknown}", headers=ACME)
            assert theirs.status_code == missing.status_code == 404, foreign
            name = foreign.split("/")[0]
            assert theirs.json()["detail"] == missing.json()["detail"].replace(
                unknown.split("/")[0], name
            )
            assert "umbrella" not in theirs.text
        own = await c.get("/api/v1/tasks/a1", headers=ACME)
        assert own.status_code == 200


async def test_streams_of_foreign_and_unknown_tasks_look_alike(live_factory: LiveFactory) -> None:
    async with live_factory(auth=AUTH, heartbeat_s=0.2) as live:
        live.publish(batch("u2", range(1, 4), at=0, run="run-u2", tenant="umbrella"))
        c = live.client
        for path in ("tasks/u2", "tasks/nope", "runs/run-u2", "runs/run-nope"):
            async with open_stream(c, f"/api/v1/{path}/logs/stream", ACME) as r:
                assert r.response.status_code == 200
                await r.wait(lambda r: r.comments >= 2)
                assert r.events == [], path


async def test_a_tenant_cannot_lock_another_out_of_its_task(live_factory: LiveFactory) -> None:
    async with live_factory(auth=AUTH) as live:
        c = live.client
        live.publish(batch("mine", range(1, 4), at=10, run="run-m", tenant="acme"))
        store_refused = metric(
            CORE, "tasklogs_store_refused_foreign_log_records_total", store="clickhouse"
        )
        bus_refused = metric(LIVE, "tasklogs_live_tail_refused_foreign_log_records_total")
        # umbrella writes under acme's task run id, with older timestamps, end included.
        live.publish(
            batch("mine", range(4, 7), at=0, run="run-evil", tenant="umbrella", end=("failure", 9))
        )
        assert (
            metric(CORE, "tasklogs_store_refused_foreign_log_records_total", store="clickhouse")
            == store_refused + 3
        )
        assert metric(LIVE, "tasklogs_live_tail_refused_foreign_log_records_total") == (
            bus_refused + 3
        )
        history = await c.get("/api/v1/tasks/mine/logs", headers=ACME)
        assert history.status_code == 200
        assert [r["seq"] for r in history.json()["records"]] == [1, 2, 3]
        task = (await c.get("/api/v1/tasks/mine", headers=ACME)).json()
        assert (task["status"], task["line_count"], task["run_id"]) == ("running", 3, "run-m")
        async with open_stream(c, "/api/v1/tasks/mine/logs/stream", ACME) as r:
            await r.wait(lambda r: len(r.logs()) >= 3)
            live.publish(batch("mine", range(7, 8), at=11, run="run-m", tenant="umbrella"))
            live.publish(batch("mine", range(4, 5), at=11, run="run-m", tenant="acme"))
            await r.wait(lambda r: len(r.logs()) >= 4)
            assert r.seqs() == [1, 2, 3, 4]
        for path in ("mine", "mine/logs", "mine/logs/download"):
            resp = await c.get(f"/api/v1/tasks/{path}", headers=UMBRELLA)
            assert resp.status_code == 404, path
        runs = (await c.get("/api/v1/runs", headers=UMBRELLA)).json()["runs"]
        assert runs == []


async def test_the_index_on_postgresql(bus_factory: Callable[..., LiveBus]) -> None:
    with open_postgres_store() as store:
        bus = bus_factory()
        app = create_app(store, bus=bus, config=LiveTailConfig(heartbeat_s=0.5), auth=AUTH)
        publisher = LiveTailExporter(bus, "live_tail")
        async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as c:
            for b in (
                batch("p1", range(1, 4), at=0, run="run-p", tenant="acme"),
                batch("p1", range(4, 6), at=0, run="run-p", tenant="umbrella"),
                batch("p2", range(1, 3), at=1, run="run-p", task="test", end=("success", 0)),
            ):
                store.push(b)
                publisher.push(b)
            run = (await c.get("/api/v1/runs/run-p", headers=ACME)).json()
            assert [(t["task_run_id"], t["status"]) for t in run["tasks"]] == [
                ("p1", "running"),
                ("p2", "succeeded"),
            ]
            assert run["run"]["line_count"] == 5
            assert (await c.get("/api/v1/runs/run-p", headers=UMBRELLA)).status_code == 404
            assert (await c.get("/api/v1/tasks/p1", headers=UMBRELLA)).status_code == 404
            runs = (await c.get("/api/v1/runs", headers=ACME)).json()["runs"]
            assert [r["run_id"] for r in runs] == ["run-p"]
        await bus.close()
