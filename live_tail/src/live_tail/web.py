"""The web viewer's pages and assets, served beside the API by the live tail.

The viewer is a single-page app (TypeScript in ``live_tail/web``, bundled by esbuild into
``live_tail/static``, committed and shipped in the wheel): every page (``/`` the runs,
``/runs/{id}`` a run, ``/tasks/{id}`` a task) answers the same ``index.html``, which
loads ``/static/app.js`` and ``/static/app.css``. Nothing comes from the network at run
time, and the Content-Security-Policy says so. Assets are an allow-list of the files in
the package's ``static`` folder: no path from the request reaches the file system.

A task page embeds its log's first page (``first_page``: the tail the viewer would ask
for first) where the server can read it without a token: the page is streamed, its
head (the bundle's ``<script>``, the style sheet) at once, so the browser loads the
bundle while the store reads the tail, and the tail follows as a JSON data block
(``<script type="application/json" id="tail">``, never executed; ``<`` escaped) before
``</body>``. The viewer reads it instead of its first request; without it (a server with
tokens, no store, an unknown task run) it asks as before.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response, StreamingResponse

__all__ = ["CSP", "FIRST_TAIL_LINES", "build_web_router"]

#: Scripts, styles and requests only from this origin; no inline script, no frames.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".map": "application/json",
    ".svg": "image/svg+xml",
}


def _assets() -> dict[str, bytes]:
    folder = resources.files("live_tail").joinpath("static")
    out: dict[str, bytes] = {}
    if folder.is_dir():
        for item in folder.iterdir():
            suffix = "." + item.name.rpartition(".")[2]
            if item.is_file() and suffix in _TYPES:
                out[item.name] = item.read_bytes()
    return out


def _response(name: str, body: bytes, request: Request, cache: str) -> Response:
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {
        "ETag": etag,
        "Cache-Control": cache,
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    media = _TYPES["." + name.rpartition(".")[2]]
    return Response(body, media_type=media, headers=headers)


#: The lines of a task page's embedded first page: the viewer's first page (TAIL in
#: live_tail/web/src/feed.ts).
FIRST_TAIL_LINES = 200
#: Where a task page's embedded first page goes (the end of index.html's body).
_BODY_END = b"</body>"
FirstPage = Callable[[str], Awaitable[bytes | None]]


def _data_block(page: bytes) -> bytes:
    """JSON as an HTML data block: ``<`` (only ever inside JSON strings) as ``\\u003c``,
    so no ``</script>`` or ``<!--`` can end or change it."""
    data = page.replace(b"<", b"\\u003c")
    return b'<script type="application/json" id="tail">' + data + b"</script>"


def _task_html(body: bytes, task_run_id: str, first_page: FirstPage) -> StreamingResponse:
    head, marker, rest = body.rpartition(_BODY_END)
    if not marker:
        head, rest = body, b""

    async def chunks() -> AsyncIterator[bytes]:
        yield head  # the browser fetches the bundle while the tail is read
        page = await first_page(task_run_id)
        yield (_data_block(page) if page is not None else b"") + marker + rest

    headers = {
        "Cache-Control": "no-store",
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    return StreamingResponse(chunks(), media_type=_TYPES[".html"], headers=headers)


def build_web_router(first_page: FirstPage | None = None) -> APIRouter:
    """The viewer's routes: its pages and ``/static/{name}``; ``first_page`` (a task
    run id to its first page's JSON, or ``None``) is what task pages embed."""
    assets = _assets()
    router = APIRouter(include_in_schema=False)

    def page(request: Request) -> Response:
        body = assets.get("index.html")
        if body is None:
            raise HTTPException(status_code=404, detail="the web viewer is not built")
        return _response("index.html", body, request, "no-cache")

    @router.get("/")
    async def runs_page(request: Request) -> Response:
        return page(request)

    @router.get("/runs/{run_id}")
    async def run_page(run_id: str, request: Request) -> Response:
        return page(request)

    @router.get("/tasks/{task_run_id}")
    async def task_page(task_run_id: str, request: Request) -> Response:
        body = assets.get("index.html")
        if body is None or first_page is None:
            return page(request)
        return _task_html(body, task_run_id, first_page)

    @router.get("/static/{name}")
    async def static(name: str, request: Request) -> Response:
        body = assets.get(name)
        if body is None:
            raise HTTPException(status_code=404, detail=f"no asset {name!r}")
        return _response(name, body, request, "no-cache")

    return router
