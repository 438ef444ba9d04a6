"""Request guards shared by the endpoints: identity, tenant visibility, stream budget."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool

from collector_service.auth import Authenticator
from collector_service.component.store import HistoryQuery
from collector_service.errors import StoreError
from live_tail.auth import Identity, TokenSigner, resolve_identity
from live_tail.metrics import LIVE_REFUSED
from live_tail.streams import LiveContext

__all__ = ["Guards"]


@dataclass(frozen=True, slots=True)
class Guards:
    """FastAPI dependencies and checks, bound to one app's auth and live context."""

    authn: Authenticator
    signer: TokenSigner
    ctx: LiveContext
    #: History queries in flight per tenant (:meth:`query_slot`).
    queries: dict[str, int] = field(default_factory=dict)
    #: Set whenever a query slot is released (wakes :meth:`queued_slot`).
    freed: asyncio.Event = field(default_factory=asyncio.Event)

    @contextmanager
    def query_slot(self, ident: Identity) -> Iterator[None]:
        """Hold one of the tenant's ``max_queries_per_tenant`` query slots (429 if none)."""
        key, limit = ident.budget_key, self.ctx.config.max_queries_per_tenant
        held = self.queries.get(key, 0)
        if held >= limit:
            LIVE_REFUSED.labels("query_limit").inc()
            who = f"tenant {ident.tenant!r}" if ident.tenant else "anonymous clients"
            raise HTTPException(
                status_code=429,
                detail=f"{who} already run {limit} history queries, the limit; retry later",
                headers={"Retry-After": "1"},
            )
        self.queries[key] = held + 1
        try:
            yield
        finally:
            left = self.queries[key] - 1
            if left:
                self.queries[key] = left
            else:
                del self.queries[key]
            self.freed.set()

    def header_identity(self, request: Request) -> Identity:
        return resolve_identity(request, self.authn, self.signer, allow_query=False)

    def any_identity(self, request: Request) -> Identity:
        return resolve_identity(request, self.authn, self.signer, allow_query=True)

    @asynccontextmanager
    async def queued_slot(self, ident: Identity) -> AsyncIterator[None]:
        """:meth:`query_slot`, waiting for a free one instead of answering 429 (the pages
        of a download that has started)."""
        while self.queries.get(ident.budget_key, 0) >= self.ctx.config.max_queries_per_tenant:
            self.freed.clear()
            await self.freed.wait()
        with self.query_slot(ident):
            yield

    async def require_visible_task(self, task_run_id: str, ident: Identity) -> None:
        """404 for another tenant's task: the same answer as for a task that is not there."""
        if ident.tenant is None:
            return
        info = await self.ctx.bus.task_info(task_run_id)
        owner = info.tenant if info is not None else None
        if info is None and self.ctx.store is not None:
            try:
                page = await run_in_threadpool(
                    self.ctx.store.query, HistoryQuery(task_run_id=task_run_id, limit=1)
                )
            except StoreError:
                page = None
            if page is not None and page.records:
                owner = page.records[0].tenant
        if owner is not None and owner != ident.tenant:
            raise HTTPException(status_code=404, detail=f"task run {task_run_id!r} not found")

    async def require_visible_run(self, run_id: str, ident: Identity) -> None:
        if ident.tenant is None:
            return
        newest = await self.ctx.bus.before(self.ctx.bus.run_key(run_id), (2**63 - 1, 0), 1)
        owner = newest[0].chunk.tenant if newest else None
        if owner is None and self.ctx.store is not None:
            try:
                page = await run_in_threadpool(
                    self.ctx.store.query, HistoryQuery(pipeline_run_id=run_id, limit=1)
                )
                found = [r for r in page.records if r.pipeline_run_id == run_id]
                owner = found[0].tenant if found else None
            except StoreError:
                owner = None
        if owner is not None and owner != ident.tenant:
            raise HTTPException(status_code=404, detail=f"pipeline run {run_id!r} not found")

    def open_stream(self, ident: Identity, kind: str) -> None:
        if not self.ctx.acquire(ident, kind):
            LIVE_REFUSED.labels("limit").inc()
            who = f"tenant {ident.tenant!r}" if ident.tenant else "anonymous clients"
            raise HTTPException(
                status_code=429,
                detail=(
                    f"{who} already hold {self.ctx.config.max_streams_per_tenant} live "
                    "streams, the limit; close one or retry later"
                ),
                headers={"Retry-After": "5"},
            )
