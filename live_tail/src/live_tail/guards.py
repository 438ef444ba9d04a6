"""Request guards shared by the endpoints: identity, tenant visibility, stream budget.

Visibility: a task run belongs to the tenant that first wrote it (the store's runs index
says so for good; the live bus for a task run the store does not know yet). History,
downloads and summaries of a task run that does not exist and of another tenant's get
the same ``404 {"detail": "task run X not found"}``. Live streams answer both alike
too, the other way round: a stream of a task run or run that is not there (yet) stays
open and waits for it (a follower may start before its task), and so does one of
another tenant's, which never shows their lines.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field

from fastapi import HTTPException, Request
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from collector_service.auth import Authenticator
from collector_service.component.store import HistoryQuery
from collector_service.errors import StoreError
from live_tail.auth import Identity, TokenSigner, resolve_identity
from live_tail.metrics import LIVE_REFUSED
from live_tail.runs_index import IndexUnavailable, RunsIndex
from live_tail.streams import LiveContext

__all__ = ["Guards"]

#: How long an owner read from the store's runs index is reused (the index's owner is
#: final; the bound only forgets task runs that retention dropped), and how many are kept.
OWNER_TTL_S = 60.0
_OWNERS_KEPT = 4096


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
    #: Owners the store's runs index gave, with when (:meth:`task_owner`): a page, its
    #: next one and a jump are one index read, not one each.
    owners: dict[str, tuple[str, float]] = field(default_factory=dict)

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

    async def task_owner(self, task_run_id: str) -> str | None:
        """The tenant owning the task run (``""``: anonymous), ``None``: no such task run."""
        known = self.owners.get(task_run_id)
        if known is not None and time.monotonic() - known[1] < OWNER_TTL_S:
            return known[0]
        index = RunsIndex(self.ctx)
        try:
            stored = await index.stored_owner(task_run_id)
            if stored is not None:
                if len(self.owners) >= _OWNERS_KEPT:
                    self.owners.clear()
                self.owners[task_run_id] = (stored, time.monotonic())
                return stored
            live = await self.ctx.bus.task_info(task_run_id)
            return live.tenant if live is not None else None
        except IndexUnavailable:
            pass  # a store without a runs index: its first stored record's tenant
        info = await self.ctx.bus.task_info(task_run_id)
        if info is not None:
            return info.tenant
        if self.ctx.store is None:
            return None
        try:
            page = await run_in_threadpool(
                self.ctx.store.query, HistoryQuery(task_run_id=task_run_id, limit=1)
            )
        except StoreError as exc:  # the store cannot say: never "not found"
            raise HTTPException(status_code=503, detail=str(exc)) from exc
        return page.records[0].tenant if page.records else None

    async def require_visible_task(self, task_run_id: str, ident: Identity) -> None:
        """404 for a task run that does not exist and for another tenant's, alike; 503
        when neither the store nor the live bus can say."""
        try:
            owner = await self.task_owner(task_run_id)
        except RedisError as exc:
            raise HTTPException(
                status_code=503, detail=f"the live bus (Redis) is unavailable: {exc}"
            ) from exc
        if owner is None or (ident.tenant is not None and owner != ident.tenant):
            raise HTTPException(status_code=404, detail=f"task run {task_run_id} not found")

    async def require_visible_run(self, run_id: str, ident: Identity) -> None:
        """404 for a run that does not exist and for one where the tenant owns no task."""
        try:
            await RunsIndex(self.ctx).run(run_id, ident.tenant)
            return
        except LookupError:
            raise HTTPException(
                status_code=404, detail=f"pipeline run {run_id} not found"
            ) from None
        except IndexUnavailable:
            pass  # a store without a runs index: the run's newest live or first stored line
        except RedisError as exc:
            raise HTTPException(
                status_code=503, detail=f"the live bus (Redis) is unavailable: {exc}"
            ) from exc
        try:
            newest = await self.ctx.bus.before(self.ctx.bus.run_key(run_id), (2**63 - 1, 0), 1)
        except RedisError as exc:
            raise HTTPException(
                status_code=503, detail=f"the live bus (Redis) is unavailable: {exc}"
            ) from exc
        owners = {newest[0].chunk.tenant} if newest else set()
        if not owners and self.ctx.store is not None:
            try:
                page = await run_in_threadpool(
                    self.ctx.store.query, HistoryQuery(pipeline_run_id=run_id, limit=1)
                )
                owners = {r.tenant for r in page.records if r.pipeline_run_id == run_id}
            except StoreError as exc:  # the store cannot say: never "not found"
                raise HTTPException(status_code=503, detail=str(exc)) from exc
        if not owners or (ident.tenant is not None and ident.tenant not in owners):
            raise HTTPException(status_code=404, detail=f"pipeline run {run_id} not found")

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
