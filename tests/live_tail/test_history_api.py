"""The history API over real HTTP on both stores: total order, tail and ``before`` paging,
run history, downloads, searches, records with every field, tenancy of the new routes."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from collector_service.auth import AuthConfig, TenantConfig
from collector_service.component.model import LogBatch
from live_tail import create_app
from live_tail.config import LiveTailConfig
from live_tail.memory_bus import MemoryBus
from live_tail.records import parse_time, rfc3339
from tests.live_tail.support import BASE_NS, make_batch, serve
from tests.stores._backends import BACKENDS, ContractStore

AUTH = AuthConfig(
    tenants={
        "acme": TenantConfig(tokens=[SecretStr("tok-acme")]),
        "umbrella": TenantConfig(tokens=[SecretStr("tok-umbrella")]),
    },
    signing_key=SecretStr("k" * 32),
)
ACME = {"Authorization": "Bearer tok-acme"}
UMBRELLA = {"Authorization": "Bearer tok-umbrella"}


@pytest.fixture(params=sorted(BACKENDS))
def backend_store(request: pytest.FixtureRequest) -> Iterator[ContractStore]:
    with BACKENDS[str(request.param)](request) as store:
        yield store


@contextlib.asynccontextmanager
async def api(
    store: ContractStore, auth: AuthConfig | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(store, bus=MemoryBus(), config=LiveTailConfig(), auth=auth)
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=60) as client:
        yield client


def same_time(batch: LogBatch) -> LogBatch:
    batch.timestamp[:] = [BASE_NS] * len(batch)
    return batch


async def walk(c: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every record, forward with ``cursor``."""
    out: list[dict[str, Any]] = []
    cursor = None
    for _ in range(10_000):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        resp = await c.get(path, params=query)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        out.extend(body["records"])
        cursor = body["next_cursor"]
        if cursor is None:
            return out
    raise AssertionError("paging did not end")


async def walk_back(c: httpx.AsyncClient, path: str, tail: int, **params: Any) -> list[Any]:
    """From ``tail=N`` back to line 1 with ``before=prev_cursor``."""
    body = (await c.get(path, params={**params, "tail": tail})).json()
    pages = [body["records"]]
    for _ in range(10_000):
        if body["prev_cursor"] is None:
            return [r for page in reversed(pages) for r in page]
        resp = await c.get(path, params={**params, "before": body["prev_cursor"]})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        pages.append(body["records"])
    raise AssertionError("paging did not end")


async def test_12000_lines_with_one_timestamp_and_no_seq_read_back_exactly(
    backend_store: ContractStore,
) -> None:
    for start in (1, 4001, 8001):
        backend_store.push(
            same_time(make_batch("tr-same", range(start, start + 4000), with_seq=False))
        )
    want = {f"line {i}" for i in range(1, 12_001)}
    async with api(backend_store) as c:
        pages = await walk(c, "/api/v1/tasks/tr-same/logs", limit=1000)
        assert len(pages) == 12_000
        assert {r["body"] for r in pages} == want
        assert len({r["cursor"] for r in pages}) == 12_000
        back = await walk_back(c, "/api/v1/tasks/tr-same/logs", 1000, limit=1000)
        assert [r["cursor"] for r in back] == [r["cursor"] for r in pages]
        run = await walk(c, "/api/v1/runs/run-1/logs", limit=999)
        assert [r["cursor"] for r in run] == [r["cursor"] for r in pages]  # one task: same order
        text = (await c.get("/api/v1/tasks/tr-same/logs/download")).text.splitlines()
        assert len(text) == 12_000
        assert {line.split(" ", 2)[2].strip() for line in text} == want
        nd = (await c.get("/api/v1/tasks/tr-same/logs/download?format=ndjson")).text
        assert [json.loads(x)["cursor"] for x in nd.splitlines()] == [r["cursor"] for r in pages]
        run_text = (await c.get("/api/v1/runs/run-1/logs/download")).text.splitlines()
        assert len(run_text) == 12_000
        found = (await c.get("/api/v1/tasks/tr-same/logs/search", params={"q": "line 1"})).json()
        assert found["total"] == len([b for b in want if "line 1" in b])


async def test_open_at_the_tail_of_100000_lines_and_page_back_to_line_1(
    backend_store: ContractStore,
) -> None:
    for start in range(1, 100_001, 25_000):
        backend_store.push(make_batch("tr-big", range(start, start + 25_000)))
    async with api(backend_store) as c:
        tail = (await c.get("/api/v1/tasks/tr-big/logs", params={"tail": 500})).json()
        assert [r["seq"] for r in tail["records"]] == list(range(99_501, 100_001))
        assert tail["next_cursor"] == tail["records"][-1]["cursor"]
        after = await c.get("/api/v1/tasks/tr-big/logs", params={"cursor": tail["next_cursor"]})
        assert after.json()["records"] == []
        back = await walk_back(c, "/api/v1/tasks/tr-big/logs", 500, limit=10_000)
        assert [r["seq"] for r in back] == list(range(1, 100_001))
        # from_seq: a permalink; its page knows what precedes it.
        jump = (await c.get("/api/v1/tasks/tr-big/logs?from_seq=50000&limit=3")).json()
        assert [r["seq"] for r in jump["records"]] == [50_000, 50_001, 50_002]
        assert jump["prev_cursor"] == jump["records"][0]["cursor"]
        first = (await c.get("/api/v1/tasks/tr-big/logs?limit=3")).json()
        assert first["prev_cursor"] is None
        again = (await c.get("/api/v1/tasks/tr-big/logs?from_seq=1&limit=3")).json()
        assert again["prev_cursor"] is None
        before = (
            await c.get(
                "/api/v1/tasks/tr-big/logs", params={"before": jump["prev_cursor"], "limit": 2}
            )
        ).json()
        assert [r["seq"] for r in before["records"]] == [49_998, 49_999]


async def test_from_seq_knows_what_precedes_it_where_the_log_starts_late(
    backend_store: ContractStore,
) -> None:
    backend_store.push(make_batch("tr-late", [*range(10, 21), *range(25, 31)]))
    async with api(backend_store) as c:
        path = "/api/v1/tasks/tr-late/logs"
        # Lines 21-24 missing: the line before the page is not there, earlier ones are.
        for at in (22, 25):
            gap = (await c.get(path, params={"from_seq": at, "limit": 10})).json()
            assert [r["seq"] for r in gap["records"]] == list(range(25, 31))
            assert gap["prev_cursor"] == gap["records"][0]["cursor"]
            assert gap["next_cursor"] is None
        early = (await c.get(path, params={"from_seq": 5, "limit": 3})).json()
        assert [r["seq"] for r in early["records"]] == [10, 11, 12]
        assert early["prev_cursor"] is None
        mid = (await c.get(path, params={"from_seq": 12, "limit": 3})).json()
        assert [r["seq"] for r in mid["records"]] == [12, 13, 14]
        assert mid["prev_cursor"] == mid["records"][0]["cursor"]
        full = (await c.get(path, params={"from_seq": 28, "limit": 3})).json()
        assert [r["seq"] for r in full["records"]] == [28, 29, 30]
        assert full["next_cursor"] == full["records"][-1]["cursor"]
        past = (await c.get(path, params={"from_seq": 31, "limit": 3})).json()
        assert past["records"] == []
        assert past["prev_cursor"] is None
        # The page and the visibility check run at once: an unknown task is still a 404.
        absent = await c.get("/api/v1/tasks/tr-none/logs", params={"from_seq": 12})
        assert absent.status_code == 404


async def test_run_history_merges_tasks_in_one_order_across_pages(
    backend_store: ContractStore,
) -> None:
    backend_store.push(make_batch("tr-a", range(1, 301), run="run-m", task_name="build"))
    b = make_batch("tr-b", range(1, 301), run="run-m", task_name="test")
    b.timestamp[:] = [t + 500 for t in b.timestamp]  # interleaved with tr-a
    backend_store.push(b)
    c2 = make_batch("tr-c", range(1, 101), run="run-m", task_name="lint")
    backend_store.push(c2)  # shares every timestamp with tr-a: the task run id breaks ties
    async with api(backend_store) as c:
        merged = await walk(c, "/api/v1/runs/run-m/logs", limit=37)
        keys = [(r["timestamp_ns"], r["task_run_id"], r["seq"]) for r in merged]
        assert len(keys) == 700
        assert keys == sorted(keys)
        back = await walk_back(c, "/api/v1/runs/run-m/logs", 37, limit=37)
        assert [r["cursor"] for r in back] == [r["cursor"] for r in merged]
        only = await walk(c, "/api/v1/runs/run-m/logs", limit=50, task=["test", "lint"])
        assert {r["task_name"] for r in only} == {"test", "lint"}
        assert len(only) == 400
        nd = await c.get(
            "/api/v1/runs/run-m/logs/download", params={"format": "ndjson", "task": "lint"}
        )
        assert len(nd.text.splitlines()) == 100
        text = (await c.get("/api/v1/runs/run-m/logs/download")).text.splitlines()
        assert len(text) == 700
        assert text[0].split(" ")[1] == "[build]"
        found = (
            await c.get("/api/v1/runs/run-m/logs/search", params={"q": "LINE 2", "first": 3})
        ).json()
        # "line 2": 2, 20..29, 200..299 in tr-a and tr-b; 2, 20..29 in tr-c.
        assert found["total"] == 2 * 111 + 11
        assert [(m["task_run_id"], m["seq"]) for m in found["matches"]] == [
            ("tr-a", 2),
            ("tr-c", 2),
            ("tr-b", 2),
        ]


async def test_resent_lines_appear_once_everywhere(backend_store: ContractStore) -> None:
    first = make_batch("tr-dup", range(1, 201))
    first.token = "one"
    again = make_batch("tr-dup", range(1, 201))
    again.token = "two"  # the same request resent after a crash: a new dedup token
    backend_store.push(first)
    backend_store.push(again)
    async with api(backend_store) as c:
        pages = await walk(c, "/api/v1/tasks/tr-dup/logs", limit=9)
        assert [r["seq"] for r in pages] == list(range(1, 201))
        back = await walk_back(c, "/api/v1/tasks/tr-dup/logs", 9, limit=9)
        assert [r["seq"] for r in back] == list(range(1, 201))
        run = await walk(c, "/api/v1/runs/run-1/logs", limit=9)
        assert [r["seq"] for r in run] == list(range(1, 201))
        for fmt in ("text", "ndjson"):
            got = await c.get("/api/v1/tasks/tr-dup/logs/download", params={"format": fmt})
            assert len(got.text.splitlines()) == 200
        rows = list(
            csv.reader(
                io.StringIO((await c.get("/api/v1/runs/run-1/logs/download?format=csv")).text)
            )
        )
        assert len(rows) == 201
        found = (await c.get("/api/v1/tasks/tr-dup/logs/search", params={"q": "line"})).json()
        assert found["total"] == 200


async def test_search_regex_case_and_bad_input(backend_store: ContractStore) -> None:
    b = make_batch("tr-s", range(1, 11), body="ok {seq}")
    b.body[3] = "Timeout after 30s"
    b.body[7] = "timeout again"
    backend_store.push(b)
    async with api(backend_store) as c:
        path = "/api/v1/tasks/tr-s/logs/search"

        async def search(**params: Any) -> dict[str, Any]:
            resp = await c.get(path, params=params)
            assert resp.status_code == 200, resp.text
            return dict(resp.json())

        assert (await search(q="TIMEOUT"))["total"] == 2
        assert (await search(q="Timeout", case="true"))["total"] == 1
        got = await search(q="^time", regex="true", first=1)
        assert got["total"] == 2
        assert [m["seq"] for m in got["matches"]] == [4]
        assert got["matches"][0]["task_run_id"] == "tr-s"
        assert (await search(q="^time", regex="true", case="true"))["total"] == 1
        assert (await search(q="ok", min_severity="error"))["total"] == 0
        page = (
            await c.get("/api/v1/tasks/tr-s/logs", params={"cursor": got["matches"][0]["cursor"]})
        ).json()
        assert page["records"][0]["seq"] == 5  # a match's cursor continues after it
        assert (await c.get(path, params={"q": "(unclosed", "regex": "true"})).status_code == 400
        assert (await c.get(path)).status_code == 422
        both = await c.get("/api/v1/tasks/tr-s/logs", params={"tail": 3, "from_seq": 2})
        assert both.status_code == 400
        assert (
            await c.get("/api/v1/tasks/tr-s/logs", params={"before": "nope"})
        ).status_code == 400
        assert (
            await c.get("/api/v1/tasks/tr-s/logs", params={"since": "yesterday"})
        ).status_code == 400


async def test_records_carry_every_field_and_time_filters(backend_store: ContractStore) -> None:
    b = make_batch("tr-f", range(1, 6))
    b.trace_flags[0] = 1
    b.scope_version[0] = "1.2.3"
    b.scope_attributes[0] = {"scope.k": "v"}
    b.resource_schema_url[0] = "https://opentelemetry.io/schemas/1.26.0"
    b.scope_schema_url[0] = "https://opentelemetry.io/schemas/1.25.0"
    b.timestamp[0] = BASE_NS + 123_456_789
    backend_store.push(b)
    async with api(backend_store) as c:
        recs = (await c.get("/api/v1/tasks/tr-f/logs")).json()["records"]
        r = recs[0]
        assert r["time"] == rfc3339(BASE_NS + 123_456_789)
        assert r["time"].endswith(".123456789Z")
        assert r["timestamp_ns"] == BASE_NS + 123_456_789
        assert (r["trace_flags"], r["scope_version"], r["scope_attributes"]) == (
            1,
            "1.2.3",
            {"scope.k": "v"},
        )
        assert r["resource_schema_url"] == "https://opentelemetry.io/schemas/1.26.0"
        assert r["scope_schema_url"] == "https://opentelemetry.io/schemas/1.25.0"
        assert (r["task_run_id"], r["task_name"], r["pipeline_run_id"]) == (
            "tr-f",
            "build",
            "run-1",
        )
        assert r["cursor"]
        since = recs[2]["time"]
        until = str(recs[4]["timestamp_ns"])
        window = (
            await c.get("/api/v1/tasks/tr-f/logs", params={"since": since, "until": until})
        ).json()
        assert [x["seq"] for x in window["records"]] == [3, 4]
    utc = datetime(2026, 1, 2, 2, 4, 5, tzinfo=UTC)
    assert parse_time("since", "2026-01-02T03:04:05.000000007+01:00") == (
        int(utc.timestamp()) * 1_000_000_000 + 7
    )
    assert parse_time("until", str(BASE_NS)) == BASE_NS


async def test_every_new_route_is_a_404_for_another_tenant(backend_store: ContractStore) -> None:
    backend_store.push(
        make_batch("tr-u", range(1, 4), run="run-u", tenant="umbrella", body="secret {seq}")
    )
    async with api(backend_store, AUTH) as c:
        own = await c.get("/api/v1/runs/run-u/logs", headers=UMBRELLA)
        assert [r["seq"] for r in own.json()["records"]] == [1, 2, 3]
        for path in (
            "/api/v1/tasks/tr-u/logs?tail=5",
            "/api/v1/tasks/tr-u/logs/search?q=secret",
            "/api/v1/runs/run-u/logs",
            "/api/v1/runs/run-u/logs?tail=2",
            "/api/v1/runs/run-u/logs/download",
            "/api/v1/runs/run-u/logs/search?q=secret",
        ):
            resp = await c.get(path, headers=ACME)
            assert resp.status_code == 404, path
            assert "secret" not in resp.text


async def test_openapi_documents_the_history_api(backend_store: ContractStore) -> None:
    async with api(backend_store) as c:
        doc = (await c.get("/openapi.json")).json()
    paths = doc["paths"]
    task = paths["/api/v1/tasks/{task_run_id}/logs"]["get"]
    assert {"cursor", "before", "tail", "from_seq", "limit", "since", "until", "level"} <= {
        p["name"] for p in task["parameters"]
    }
    run = paths["/api/v1/runs/{run_id}/logs"]["get"]
    assert {"cursor", "before", "tail", "task", "since"} <= {p["name"] for p in run["parameters"]}
    assert run["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "RunHistoryResponse"
    )
    for kind, ident in (("tasks", "task_run_id"), ("runs", "run_id")):
        search = paths[f"/api/v1/{kind}/{{{ident}}}/logs/search"]["get"]
        assert {"q", "regex", "case", "first"} <= {p["name"] for p in search["parameters"]}
        assert {"400", "401", "404"} <= set(search["responses"])
        download = paths[f"/api/v1/{kind}/{{{ident}}}/logs/download"]["get"]
        assert {"format", "ansi"} <= {p["name"] for p in download["parameters"]}
    record = doc["components"]["schemas"]["Record"]["properties"]
    assert {
        "time",
        "cursor",
        "task_run_id",
        "task_name",
        "trace_flags",
        "scope_version",
        "scope_attributes",
        "resource_schema_url",
        "scope_schema_url",
    } <= set(record)
    assert {"prev_cursor", "next_cursor"} <= set(
        doc["components"]["schemas"]["HistoryResponse"]["properties"]
    )
