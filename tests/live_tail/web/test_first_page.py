"""A task page's HTML brings the log's tail (live_tail.web, the viewer's first request)
on a server without tokens, on both stores; with tokens, or for an unknown task run, it
is the plain page."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from collector_service.auth import AuthConfig, TenantConfig
from live_tail import create_app
from live_tail.config import LiveTailConfig
from live_tail.memory_bus import MemoryBus
from live_tail.web import CSP, FIRST_TAIL_LINES
from tests.live_tail.support import make_batch, serve
from tests.stores._backends import BACKENDS, ContractStore

_BLOCK = re.compile(r'<script type="application/json" id="tail">(.*?)</script>', re.S)


@pytest.fixture(params=sorted(BACKENDS))
def backend_store(request: pytest.FixtureRequest) -> Iterator[ContractStore]:
    with BACKENDS[str(request.param)](request) as store:
        yield store


def _embedded(html: str) -> dict[str, Any] | None:
    found = _BLOCK.findall(html)
    assert len(found) <= 1
    return json.loads(found[0]) if found else None


async def test_the_task_page_embeds_the_tail_the_api_answers(backend_store: ContractStore) -> None:
    # Bodies that would end or change a script element if they were not escaped.
    backend_store.push(make_batch("tr-e", range(1, 501), body="line {seq} </script><!-- <b>"))
    app = create_app(backend_store, bus=MemoryBus(), config=LiveTailConfig())
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=60) as c:
        resp = await c.get("/tasks/tr-e")
        assert resp.status_code == 200
        assert resp.headers["content-security-policy"] == CSP
        assert resp.headers["cache-control"] == "no-store"
        html = resp.text
        assert html.index('<script defer src="/static/app.js">') < html.index('id="tail"')
        assert html.rstrip().endswith("</body>\n</html>")
        page = _embedded(html)
        api = await c.get(
            "/api/v1/tasks/tr-e/logs", params={"tail": FIRST_TAIL_LINES, "limit": FIRST_TAIL_LINES}
        )
        assert page is not None
        assert page == api.json()
        assert [r["seq"] for r in page["records"]] == list(range(301, 501))
        assert page["records"][0]["body"] == "line 301 </script><!-- <b>"
        # No such task run (yet): the plain page; the viewer asks and waits for it.
        absent = await c.get("/tasks/tr-none")
        assert absent.status_code == 200
        assert _embedded(absent.text) is None
        assert '<main id="app">' in absent.text


async def test_no_tail_in_the_page_of_a_server_with_tokens(backend_store: ContractStore) -> None:
    backend_store.push(make_batch("tr-t", range(1, 4), tenant="acme"))
    auth = AuthConfig(
        tenants={"acme": TenantConfig(tokens=[SecretStr("tok-acme")])},
        signing_key=SecretStr("k" * 32),
    )
    app = create_app(backend_store, bus=MemoryBus(), config=LiveTailConfig(), auth=auth)
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=60) as c:
        resp = await c.get("/tasks/tr-t")
        assert resp.status_code == 200
        assert _embedded(resp.text) is None
        assert "line 1" not in resp.text
