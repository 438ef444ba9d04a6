"""The history routes of a task run and of a pipeline run: pages, downloads, searches.

``GET /api/v1/tasks/{id}/logs`` and ``GET /api/v1/runs/{id}/logs`` page through the
store's total order (docs/read-api.md): ``cursor`` forward, ``before`` backward,
``tail`` from the end, ``from_seq`` (task) from a line. ``.../logs/download`` streams the
whole selection; ``.../logs/search`` counts matches over the whole history in the store
and returns the first ones. Filters and regexes run in the store (RE2 in ClickHouse,
POSIX in PostgreSQL), never in Python on the event loop; the tenant check of every
record stays here. (No ``from __future__ import annotations``: FastAPI reads these
annotations.)
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from collector_service.component.store import (
    MAX_PAGE,
    MAX_POSITION,
    Cursor,
    HistoryPage,
    HistoryQuery,
    LogStore,
    Match,
    SearchableStore,
    StoredLog,
)
from collector_service.errors import QueryError, QueryLimitError, StoreError
from live_tail import download
from live_tail._shared import store_query
from live_tail.auth import Identity
from live_tail.filters import LineFilter, filter_params
from live_tail.guards import Guards
from live_tail.records import (
    HistoryResponse,
    RunHistoryResponse,
    SearchMatch,
    SearchResponse,
    page_json,
    parse_time,
)
from live_tail.streams import LiveContext
from live_tail.task_position import decode_cursor

__all__ = ["first_tail", "history_routes", "task_page"]

_DOWNLOAD_PAGE = 5000
_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"description": "bad cursor, filter, regular expression or limit"},
    401: {"description": "missing or invalid token"},
    404: {"description": "the task or run belongs to another tenant"},
    503: {"description": "no store, or the store cannot answer"},
}
_DOWNLOAD_DOC: dict[int | str, dict[str, object]] = {
    200: {
        "description": "every matching stored line, streamed page by page",
        "content": {"text/plain": {}, "application/x-ndjson": {}, "text/csv": {}},
    },
    **_ERRORS,
}


@dataclass(frozen=True, slots=True)
class Selection:
    """The filters of a history request (both kinds), as the store gets them."""

    flt: LineFilter
    since_ns: int | None
    until_ns: int | None


def selection(
    flt: Annotated[LineFilter, Depends(filter_params)],
    since: Annotated[
        str | None, Query(description="lines at or after: RFC 3339 (ns precision) or ns")
    ] = None,
    until: Annotated[str | None, Query(description="lines before: RFC 3339 or ns")] = None,
) -> Selection:
    since_ns, until_ns = parse_time("since", since), parse_time("until", until)
    if since_ns is not None and until_ns is not None and since_ns > until_ns:
        raise HTTPException(status_code=400, detail="since must not be after until")
    return Selection(flt, since_ns, until_ns)


@dataclass(frozen=True, slots=True)
class Paging:
    cursor: Cursor | None
    before: Cursor | None
    tail: int | None
    limit: int


def paging(
    cursor: Annotated[
        str | None, Query(description="continue after this record's cursor (exclusive)")
    ] = None,
    before: Annotated[
        str | None, Query(description="the `limit` records just before this cursor")
    ] = None,
    tail: Annotated[
        int | None, Query(ge=1, le=MAX_PAGE, description="the newest N records")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1000,
) -> Paging:
    try:
        after = decode_cursor(cursor) if cursor else None
        upto = decode_cursor(before) if before else None
    except StoreError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    return Paging(after, upto, tail, limit)


def _one_mode(p: Paging, from_seq: int | None) -> None:
    given = [
        n
        for n, v in (
            ("cursor", p.cursor),
            ("before", p.before),
            ("tail", p.tail),
            ("from_seq", from_seq),
        )
        if v is not None
    ]
    if len(given) > 1:
        raise HTTPException(
            status_code=400, detail=f"at most one of {', '.join(given)} may be given"
        )


def _store(ctx: LiveContext) -> LogStore:
    store = ctx.store
    if store is None:
        raise HTTPException(status_code=503, detail="no history store is configured")
    return store


_T = TypeVar("_T")


async def _ask(call: Callable[[], _T]) -> _T:
    try:
        return await run_in_threadpool(call)
    except QueryError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    except QueryLimitError as exc:  # every reader of the store busy
        raise HTTPException(status_code=429, detail=str(exc), headers={"Retry-After": "1"}) from exc
    except StoreError as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from exc


def _base(
    ident: Identity,
    sel: Selection,
    *,
    task_run_id: str | None = None,
    run_id: str | None = None,
    tasks: list[str] | None = None,
) -> HistoryQuery:
    q = store_query(ident, sel.flt, task_run_id=task_run_id, pipeline_run_id=run_id)
    try:
        return replace(
            q, since_ns=sel.since_ns, until_ns=sel.until_ns, task_names=tuple(tasks or ())
        )
    except StoreError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc


def _mine(records: list[StoredLog], ident: Identity) -> list[StoredLog]:
    if ident.tenant is None:
        return records
    return [r for r in records if r.tenant == ident.tenant]


async def _page(
    store: LogStore, base: HistoryQuery, p: Paging, from_seq: int | None
) -> HistoryPage:
    """The page ``p`` asks for, with its ``prev_cursor`` (forward pages ask the store
    whether anything precedes their first record)."""
    if p.tail is not None:
        return await _ask(lambda: store.query(replace(base, newest=True, limit=p.tail or 1)))
    if p.before is not None:
        return await _ask(lambda: store.query(replace(base, before=p.before, limit=p.limit)))
    after = p.cursor
    if from_seq is not None and from_seq > 1 and p.limit < MAX_PAGE:
        return await _from_seq(store, base, from_seq, p.limit)
    if from_seq is not None and from_seq > 0:
        after = Cursor(from_seq - 1, MAX_POSITION, "", MAX_POSITION)
    q = replace(base, after=after, limit=p.limit)
    page = await _ask(lambda: store.query(q))
    if after is None or not page.records:
        return page
    first = page.records[0].cursor
    earlier = await _ask(lambda: store.query(replace(base, before=first, limit=1)))
    return replace(page, prev_cursor=first if earlier.records else None)


async def _from_seq(store: LogStore, base: HistoryQuery, seq: int, limit: int) -> HistoryPage:
    """A page from ``seq`` on, read with the line before it: one read tells whether
    anything precedes the page (``prev_cursor``) unless that line is missing."""
    q = replace(base, after=Cursor(seq - 2, MAX_POSITION, "", MAX_POSITION), limit=limit + 1)
    got = (await _ask(lambda: store.query(q))).records
    before = bool(got) and got[0].seq == seq - 1
    records = got[1:] if before else got[:limit]
    if not records:
        return HistoryPage([], None)
    if not before:  # no line seq - 1: is there any before it?
        ahead = replace(base, before=Cursor(seq - 1, 0, "", 0), limit=1)
        before = bool((await _ask(lambda: store.query(ahead))).records)
    full = len(records) == limit
    return HistoryPage(
        records, records[-1].cursor if full else None, records[0].cursor if before else None
    )


async def _checked(check: Awaitable[None], work: Callable[[], Awaitable[_T]]) -> _T:
    """``work()`` while ``check`` (a visibility check) runs; the check's error wins, as
    when it ran first, and nothing of ``work`` is returned unless the check passed."""
    checking = asyncio.ensure_future(check)
    try:
        result = await work()
    except BaseException:
        await checking
        raise
    await checking
    return result


async def task_page(
    store: LogStore,
    guards: Guards,
    ident: Identity,
    task_run_id: str,
    *,
    sel: Selection,
    p: Paging,
    from_seq: int | None = None,
) -> bytes:
    """One page of a task run's history as the API's JSON (404 for another tenant's).

    Without tenants the visibility check (the task run exists) and the page are read at
    once; with tenants the check comes first, so that nothing is read for a task run
    the caller must not know about (its timing alike for absent and foreign ones).
    """
    base = _base(ident, sel, task_run_id=task_run_id)

    async def read() -> HistoryPage:
        with guards.query_slot(ident):
            return await _page(store, base, p, from_seq)

    check = guards.require_visible_task(task_run_id, ident)
    if ident.tenant is None:
        page = await _checked(check, read)
    else:
        await check
        page = await read()
    return page_json(
        "task_run_id", task_run_id, _mine(page.records, ident), page.next_cursor, page.prev_cursor
    )


def first_tail(
    guards: Guards, ctx: LiveContext, lines: int
) -> Callable[[str], Awaitable[bytes | None]]:
    """What a task page's HTML embeds (live_tail.web): the task's newest ``lines`` as
    ``?tail=lines&limit=lines`` answers them, for a server without authentication (a
    page's navigation carries no token); ``None`` when there is nothing to embed (a
    token needed, no store, no such task run, the store cannot answer now)."""
    no_filter = Selection(LineFilter(), None, None)
    newest = Paging(None, None, lines, lines)

    async def read(task_run_id: str) -> bytes | None:
        if guards.authn.enabled or ctx.store is None:
            return None
        try:
            return await task_page(
                ctx.store, guards, Identity(None), task_run_id, sel=no_filter, p=newest
            )
        except HTTPException:
            return None

    return read


def _json(body: bytes) -> Response:
    return Response(content=body, media_type="application/json")


def history_routes(app: APIRouter, guards: Guards, ctx: LiveContext) -> None:
    """Add the task and run history routes to ``app``."""
    _task_routes(app, guards, ctx)
    _run_routes(app, guards, ctx)


def _task_routes(app: APIRouter, guards: Guards, ctx: LiveContext) -> None:
    @app.get(
        "/api/v1/tasks/{task_run_id}/logs",
        tags=["history"],
        response_model=HistoryResponse,
        responses=_ERRORS,
    )
    async def task_history(
        task_run_id: str,
        ident: Annotated[Identity, Depends(guards.any_identity)],
        sel: Annotated[Selection, Depends(selection)],
        p: Annotated[Paging, Depends(paging)],
        from_seq: Annotated[
            int | None, Query(ge=0, description="records with seq >= S (permalinks)")
        ] = None,
    ) -> Response:
        """One page of a task run's stored lines in ``(seq, time, line id)`` order."""
        _one_mode(p, from_seq)
        store = _store(ctx)
        page = await task_page(store, guards, ident, task_run_id, sel=sel, p=p, from_seq=from_seq)
        return _json(page)

    @app.get(
        "/api/v1/tasks/{task_run_id}/logs/download",
        tags=["history"],
        response_class=StreamingResponse,
        responses=_DOWNLOAD_DOC,
    )
    async def task_download(
        task_run_id: str,
        ident: Annotated[Identity, Depends(guards.any_identity)],
        sel: Annotated[Selection, Depends(selection)],
        format: Annotated[Literal["text", "ndjson", "csv"], Query()] = "text",
        ansi: Annotated[
            Literal["keep", "strip"], Query(description="strip: drop terminal escapes")
        ] = "keep",
    ) -> StreamingResponse:
        """A task run's whole stored log as text, NDJSON (Records) or CSV, of any size."""
        store = _store(ctx)
        await guards.require_visible_task(task_run_id, ident)
        base = _base(ident, sel, task_run_id=task_run_id)
        with guards.query_slot(ident):
            pass  # 429 now, before the response starts, when every slot is taken
        return download.response(
            task_run_id, format, _pages(store, base, ident, guards), strip_ansi=ansi == "strip"
        )

    @app.get(
        "/api/v1/tasks/{task_run_id}/logs/search",
        tags=["history"],
        response_model=SearchResponse,
        responses=_ERRORS,
    )
    async def task_search(
        task_run_id: str,
        ident: Annotated[Identity, Depends(guards.any_identity)],
        sel: Annotated[Selection, Depends(selection)],
        search: Annotated[Match, Depends(_match)],
        first: Annotated[int, Query(ge=0, le=MAX_PAGE, description="matches to list")] = 100,
    ) -> SearchResponse:
        """How many lines of the task's whole history match ``q``, and the first ``first``."""
        store = _store(ctx)
        await guards.require_visible_task(task_run_id, ident)
        base = _base(ident, sel, task_run_id=task_run_id)
        with guards.query_slot(ident):
            return await _search(store, replace(base, match=search), first, ident)


def _run_routes(app: APIRouter, guards: Guards, ctx: LiveContext) -> None:
    task_doc = "only these task names (cicd.pipeline.task.name), repeatable"

    @app.get(
        "/api/v1/runs/{run_id}/logs",
        tags=["history"],
        response_model=RunHistoryResponse,
        responses=_ERRORS,
    )
    async def run_history(
        run_id: str,
        ident: Annotated[Identity, Depends(guards.any_identity)],
        sel: Annotated[Selection, Depends(selection)],
        p: Annotated[Paging, Depends(paging)],
        task: Annotated[list[str] | None, Query(description=task_doc)] = None,
    ) -> Response:
        """One page of a pipeline run's lines, every task merged in
        ``(time, task run id, seq, line id)`` order."""
        _one_mode(p, None)
        store = _store(ctx)
        await guards.require_visible_run(run_id, ident)
        with guards.query_slot(ident):
            page = await _page(store, _base(ident, sel, run_id=run_id, tasks=task), p, None)
        records = [r for r in _mine(page.records, ident) if r.pipeline_run_id == run_id]
        return _json(page_json("run_id", run_id, records, page.next_cursor, page.prev_cursor))

    @app.get(
        "/api/v1/runs/{run_id}/logs/download",
        tags=["history"],
        response_class=StreamingResponse,
        responses=_DOWNLOAD_DOC,
    )
    async def run_download(
        run_id: str,
        *,
        ident: Annotated[Identity, Depends(guards.any_identity)],
        sel: Annotated[Selection, Depends(selection)],
        task: Annotated[list[str] | None, Query(description=task_doc)] = None,
        format: Annotated[Literal["text", "ndjson", "csv"], Query()] = "text",
        ansi: Annotated[
            Literal["keep", "strip"], Query(description="strip: drop terminal escapes")
        ] = "keep",
    ) -> StreamingResponse:
        """A pipeline run's whole stored log, every task merged, of any size."""
        store = _store(ctx)
        await guards.require_visible_run(run_id, ident)
        base = _base(ident, sel, run_id=run_id, tasks=task)
        with guards.query_slot(ident):
            pass  # 429 now, before the response starts, when every slot is taken
        return download.response(
            run_id, format, _pages(store, base, ident, guards), strip_ansi=ansi == "strip", run=True
        )

    @app.get(
        "/api/v1/runs/{run_id}/logs/search",
        tags=["history"],
        response_model=SearchResponse,
        responses=_ERRORS,
    )
    async def run_search(
        run_id: str,
        *,
        ident: Annotated[Identity, Depends(guards.any_identity)],
        sel: Annotated[Selection, Depends(selection)],
        search: Annotated[Match, Depends(_match)],
        task: Annotated[list[str] | None, Query(description=task_doc)] = None,
        first: Annotated[int, Query(ge=0, le=MAX_PAGE, description="matches to list")] = 100,
    ) -> SearchResponse:
        """How many lines of the run's whole history match ``q``, and the first ``first``."""
        store = _store(ctx)
        await guards.require_visible_run(run_id, ident)
        base = _base(ident, sel, run_id=run_id, tasks=task)
        with guards.query_slot(ident):
            return await _search(store, replace(base, match=search), first, ident)


def _match(
    q: Annotated[str, Query(min_length=1, description="the text (or regex) to find")],
    regex: Annotated[bool, Query(description="q is a regular expression (RE2)")] = False,
    case: Annotated[bool, Query(description="case-sensitive")] = False,
) -> Match:
    return Match(q, regex=regex, case_sensitive=case)


async def _search(store: LogStore, q: HistoryQuery, first: int, ident: Identity) -> SearchResponse:
    if not isinstance(store, SearchableStore):
        raise HTTPException(status_code=501, detail="this store cannot search")
    found = await _ask(lambda: store.search(q, first))
    return SearchResponse(
        total=found.total,
        matches=[
            SearchMatch(seq=r.seq, cursor=r.cursor.encode(), task_run_id=r.task_run_id)
            for r in _mine(found.matches, ident)
        ],
    )


async def _pages(
    store: LogStore, base: HistoryQuery, ident: Identity, guards: Guards
) -> AsyncIterator[list[StoredLog]]:
    """Every record of ``base``, page by page (the response is already under way: a store
    error ends it early). Each page waits for one of the tenant's query slots."""
    after: Cursor | None = None
    while True:
        q = replace(base, after=after, limit=_DOWNLOAD_PAGE)
        async with guards.queued_slot(ident):
            page = await run_in_threadpool(store.query, q)
        yield _mine(page.records, ident)
        if page.next_cursor is None:
            return
        after = page.next_cursor
