"""The committed viewer bundle is what `make web` builds from the TypeScript sources,
and the live tail serves and packages it."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tomllib
from pathlib import Path

import httpx
from fastapi import FastAPI

from live_tail import create_app
from live_tail.web import CSP
from tests.support import REPO

WEB = REPO / "live_tail" / "web"
STATIC = REPO / "live_tail" / "src" / "live_tail" / "static"


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_committed_bundle_is_fresh(tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, "node is needed to check the viewer bundle (see README: make web)"
    if not (WEB / "node_modules" / "esbuild").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--prefer-offline"],
            cwd=WEB, check=True, capture_output=True, timeout=600,
        )  # fmt: skip
    subprocess.run([node, "build.mjs", str(tmp_path)], cwd=WEB, check=True, timeout=300)
    assert _digests(tmp_path) == _digests(STATIC), "stale bundle: run `make web` and commit"


def test_the_wheel_ships_the_bundle() -> None:
    meta = tomllib.loads((REPO / "live_tail" / "pyproject.toml").read_text())
    assert "static/*" in meta["tool"]["setuptools"]["package-data"]["live_tail"]
    assert {"index.html", "app.js", "app.css"} <= {p.name for p in STATIC.iterdir()}


async def test_pages_and_assets_are_served() -> None:
    app: FastAPI = create_app(None)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        for path in ("/", "/runs/r-1", "/tasks/t-1"):
            resp = await c.get(path)
            assert resp.status_code == 200, path
            assert '<script defer src="/static/app.js">' in resp.text
            assert resp.headers["content-security-policy"] == CSP
        js = await c.get("/static/app.js")
        assert js.headers["content-type"].startswith("text/javascript")
        again = await c.get("/static/app.js", headers={"If-None-Match": js.headers["etag"]})
        assert again.status_code == 304
        assert (await c.get("/static/..%2Fweb.py")).status_code == 404
        assert (await c.get("/static/nope.js")).status_code == 404
        assert (await c.get("/healthz")).status_code == 200
