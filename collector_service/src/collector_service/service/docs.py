"""``/docs`` and ``/openapi.json``, with the Swagger UI assets served by the app itself.

FastAPI's own ``/docs`` loads Swagger UI from a CDN, so it is blank offline and behind a
firewall. Here the page names ``/docs/assets/...``, which the app serves from the
Swagger UI 5 distribution shipped in the ``fastapi-swagger`` package (no network at all).
ReDoc is not served (no packaged copy). With ``auth.protect_docs`` the page and the
OpenAPI document need a bearer token; the static assets stay public (they are the same
for everybody).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["ASSETS", "DOCS_URL", "OPENAPI_URL", "add_docs"]

DOCS_URL = "/docs"
OPENAPI_URL = "/openapi.json"
_ASSETS_URL = "/docs/assets"
#: Asset name -> media type: the only files served under ``/docs/assets/``.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}

#: A check that raises (an HTTP error) when the request may not see the docs.
Guard = Callable[[Request], Awaitable[None]]


def _asset(name: str) -> bytes:
    return resources.files("fastapi_swagger.resources").joinpath(name).read_bytes()


def add_docs(app: FastAPI, guard: Guard) -> None:
    """Add ``/docs``, ``/openapi.json`` (both behind ``guard``) and the assets to ``app``
    (built with ``docs_url=None, redoc_url=None, openapi_url=None``)."""
    cache: dict[str, bytes] = {}

    async def openapi(request: Request) -> Response:
        await guard(request)
        return JSONResponse(app.openapi())

    async def docs(request: Request) -> HTMLResponse:
        await guard(request)
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + OPENAPI_URL,
            title=f"{app.title} - API",
            swagger_js_url=f"{root}{_ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{_ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{_ASSETS_URL}/favicon-32x32.png",
        )

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        media = ASSETS.get(name)
        if media is None:
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        if name not in cache:
            cache[name] = _asset(name)
        return Response(
            cache[name], media_type=media, headers={"Cache-Control": "public, max-age=86400"}
        )

    app.add_route(OPENAPI_URL, openapi, methods=["GET"], include_in_schema=False)
    app.add_route(DOCS_URL, docs, methods=["GET"], include_in_schema=False)
    app.add_route(_ASSETS_URL + "/{name}", asset, methods=["GET"], include_in_schema=False)
