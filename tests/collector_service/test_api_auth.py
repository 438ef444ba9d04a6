"""Auth mode of the core's endpoints, and /docs served with no network (assets local)."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError

from collector_service.auth import AuthConfig, TenantConfig
from collector_service.service.api import build_api
from collector_service.service.docs import ASSETS
from collector_service.service.host import ServiceHost

TOKEN = "tok-a"


def _client(*, protect_metrics: bool = False, protect_docs: bool = False) -> TestClient:
    auth = AuthConfig(
        tenants={"a": TenantConfig(tokens=[SecretStr(TOKEN)])},
        protect_metrics=protect_metrics,
        protect_docs=protect_docs,
    )
    return TestClient(build_api(ServiceHost(data_dir=Path("."), auth=auth)))


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a socket fails: the page and its assets come from the app."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise OSError("network is off in this test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.mark.usefixtures("no_network")
def test_docs_page_and_its_assets_load_offline() -> None:
    with _client() as c:
        page = c.get("/docs")
        assert page.status_code == 200
        html = page.text
        assert "cdn" not in html.lower()
        assert not re.search(r"""(src|href)=["']https?://""", html), html
        urls = re.findall(r"""(?:src|href|url:)\s*=?\s*["'](/[^"']+)["']""", html)
        assert "/openapi.json" in urls
        assets = [u for u in urls if u.startswith("/docs/assets/")]
        assert {u.rsplit("/", 1)[1] for u in assets} == set(ASSETS)
        for url in [*assets, "/openapi.json"]:
            r = c.get(url)
            assert r.status_code == 200, url
            assert len(r.content) > 1000 or url.endswith(".png"), url
        assert c.get("/openapi.json").json()["paths"]["/healthz"]
        js = c.get("/docs/assets/swagger-ui-bundle.js").text
        assert "SwaggerUIBundle" in js
        assert c.get("/docs/assets/..%2F..%2Fetc%2Fpasswd").status_code == 404
        assert c.get("/docs/assets/index.html").status_code == 404
        assert c.get("/redoc").status_code == 404  # not served: no packaged ReDoc


def test_defaults_leave_metrics_and_docs_open_and_probes_always_open() -> None:
    with _client() as c:
        for path in ("/metrics", "/docs", "/openapi.json", "/healthz"):
            assert c.get(path).status_code == 200, path
        assert c.get("/readyz").status_code in (200, 503)


def test_protected_metrics_and_docs_need_a_tenant_token() -> None:
    with _client(protect_metrics=True, protect_docs=True) as c:
        for path in ("/metrics", "/docs", "/openapi.json"):
            r = c.get(path)
            assert r.status_code == 401, path
            assert r.headers["www-authenticate"].startswith("Bearer")
            bad = c.get(path, headers={"Authorization": "Bearer nope"})
            assert bad.status_code == 401, path
            ok = c.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
            assert ok.status_code == 200, path
        scrape = c.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert b"tasklogs_" in scrape.content
        # Probes and the static assets carry nothing secret and stay open.
        assert c.get("/healthz").status_code == 200
        assert c.get("/docs/assets/swagger-ui.css").status_code == 200


def test_protecting_without_tenants_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match=r"protect_metrics needs auth\.tenants"):
        AuthConfig(protect_metrics=True)
    with pytest.raises(ValidationError, match=r"protect_docs needs auth\.tenants"):
        AuthConfig(protect_docs=True)


def test_worker_metrics_endpoint_follows_protect_metrics() -> None:
    import httpx

    from collector_service.auth import Authenticator
    from collector_service.cli.metrics_server import serve_metrics
    from collector_service.metrics import REGISTRY
    from tests.support import free_port

    auth = AuthConfig(tenants={"a": TenantConfig(tokens=[SecretStr(TOKEN)])}, protect_metrics=True)
    port = free_port()
    serve_metrics(f"127.0.0.1:{port}", REGISTRY, Authenticator(auth), protect=True)
    url = f"http://127.0.0.1:{port}/metrics"
    assert httpx.get(url, timeout=5).status_code == 401
    ok = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert ok.status_code == 200
    assert b"tasklogs_" in ok.content
