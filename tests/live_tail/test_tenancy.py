"""Tenancy over real HTTP: bearer tokens, signed query tokens, 404 for other tenants."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from pydantic import SecretStr

from collector_service.auth import AuthConfig, TenantConfig
from live_tail.auth import TokenSigner
from tests.live_tail.conftest import Live
from tests.live_tail.support import make_batch, open_stream

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


async def test_a_tenant_sees_only_its_own_tasks(live_factory: LiveFactory) -> None:
    async with live_factory(auth=AUTH) as live:
        live.publish(make_batch("tr-acme", range(1, 4), run="run-acme", tenant="acme"))
        live.publish(make_batch("tr-umb", range(1, 4), run="run-umb", tenant="umbrella"))
        c = live.client
        # History: own task fine, the other tenant's task is a 404, nothing leaks.
        own = await c.get("/api/v1/tasks/tr-acme/logs", headers=ACME)
        assert [r["seq"] for r in own.json()["records"]] == [1, 2, 3]
        other = await c.get("/api/v1/tasks/tr-umb/logs", headers=ACME)
        assert other.status_code == 404
        assert "tr-umb" in other.json()["detail"]
        assert "line" not in other.text
        for path in ("/api/v1/tasks/tr-umb/logs/download", "/api/v1/tasks/tr-umb"):
            assert (await c.get(path, headers=ACME)).status_code == 404, path
        # Streams answer another tenant's task or run as one not there yet: open, and
        # nothing in them (tests/live_tail/test_index.py compares both).
        for path in ("/api/v1/tasks/tr-umb/logs/stream", "/api/v1/runs/run-umb/logs/stream"):
            async with open_stream(c, path, ACME) as r:
                assert r.response.status_code == 200, path
                await r.wait(lambda r: r.comments >= 1)
                assert r.events == [], path
        # Live: own task streams.
        async with open_stream(c, "/api/v1/tasks/tr-acme/logs/stream", ACME) as r:
            await r.wait(lambda r: len(r.logs()) >= 3)
        # A run stream filters by tenant even when another tenant's task joins the run.
        async with open_stream(c, "/api/v1/runs/run-acme/logs/stream", ACME) as r:
            await r.wait(lambda r: len(r.logs()) >= 3)
            live.publish(make_batch("tr-intruder", [1, 2], run="run-acme", tenant="umbrella"))
            live.publish(make_batch("tr-acme", [4], run="run-acme", tenant="acme"))
            await r.wait(lambda r: len(r.logs()) >= 4)
            assert {e.data["task_run_id"] for e in r.logs()} == {"tr-acme"}


async def test_missing_or_wrong_tokens_are_401(live_factory: LiveFactory) -> None:
    async with live_factory(auth=AUTH) as live:
        c = live.client
        assert (await c.get("/api/v1/tasks/x/logs")).status_code == 401
        bad = await c.get("/api/v1/tasks/x/logs", headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401
        assert bad.headers["www-authenticate"] == "Bearer"
        assert (await c.get("/api/v1/tasks/x/logs/stream?access_token=forged")).status_code == 401
        # Minting needs a bearer header; a query token cannot mint another.
        assert (await c.post("/api/v1/auth/stream-token")).status_code == 401
        assert (await c.get("/healthz")).status_code == 200


async def test_eventsource_query_token(live_factory: LiveFactory) -> None:
    async with live_factory(auth=AUTH) as live:
        live.publish(make_batch("tr-q", range(1, 3), tenant="acme"))
        minted = await live.client.post("/api/v1/auth/stream-token", headers=ACME)
        assert minted.status_code == 200
        token = minted.json()["access_token"]
        assert minted.json()["tenant"] == "acme"
        async with open_stream(
            live.client, f"/api/v1/tasks/tr-q/logs/stream?access_token={token}"
        ) as r:
            await r.wait(lambda r: len(r.logs()) >= 2)
        # The token carries the tenant: another tenant's task stays hidden.
        live.publish(make_batch("tr-u", [1], tenant="umbrella"))
        hidden = await live.client.get(f"/api/v1/tasks/tr-u/logs?access_token={token}")
        assert hidden.status_code == 404


def test_query_tokens_expire_and_cannot_be_forged() -> None:
    signer = TokenSigner(b"secret", ttl_s=60)
    token, expires = signer.mint("acme", now=1000)
    assert expires == 1060
    assert signer.verify(token, now=1059) == "acme"
    assert signer.verify(token, now=1061) is None
    assert TokenSigner(b"other", ttl_s=60).verify(token, now=1001) is None
    head, tenant, exp, mac = token.split(".")
    assert signer.verify(f"{head}.{tenant}.{int(exp) + 999}.{mac}", now=1001) is None


async def test_stream_limits_count_per_tenant(live_factory: LiveFactory) -> None:
    async with live_factory(auth=AUTH, max_streams_per_tenant=1) as live:
        c = live.client
        async with open_stream(c, "/api/v1/tasks/a/logs/stream", ACME):
            over = await c.get("/api/v1/tasks/b/logs/stream", headers=ACME)
            assert over.status_code == 429
            assert "tenant 'acme'" in over.json()["detail"]
            async with open_stream(c, "/api/v1/tasks/b/logs/stream", UMBRELLA) as r:
                assert r.response.status_code == 200
