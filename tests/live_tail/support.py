"""Helpers for the live-tail tests: batches, an in-process uvicorn, an SSE reader."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from collector_service.component.model import LogBatch
from collector_service.serving import QuietServer
from tests.support import free_port

BASE_NS = 1_700_000_000_000_000_000


def make_batch(
    task_run_id: str,
    seqs: range | list[int],
    *,
    run: str = "run-1",
    tenant: str | None = None,
    task_name: str = "build",
    end: bool = False,
    severity: int = 9,
    body: str = "line {seq}",
    with_seq: bool = True,
) -> LogBatch:
    """Lines of one task run as the receiver decodes them (resource shared by reference)."""
    b = LogBatch()
    resource = {
        "service.name": "svc",
        "cicd.pipeline.task.run.id": task_run_id,
        "cicd.pipeline.run.id": run,
        "cicd.pipeline.task.name": task_name,
    }
    if tenant is not None:
        resource["tasklogs.tenant"] = tenant
    seq_list = list(seqs)
    for i, seq in enumerate(seq_list):
        last = end and i == len(seq_list) - 1
        b.timestamp.append(BASE_NS + seq * 1000)
        b.trace_id.append("")
        b.span_id.append("")
        b.trace_flags.append(0)
        b.severity_text.append("INFO" if severity < 13 else "ERROR")
        b.severity_number.append(severity)
        b.service_name.append("svc")
        b.body.append("task ended with exit code 0" if last else body.format(seq=seq))
        b.resource_schema_url.append("")
        b.resource_attributes.append(resource)
        b.scope_schema_url.append("")
        b.scope_name.append("tasklogs.stdout")
        b.scope_version.append("")
        b.scope_attributes.append({})
        # Without a seq, as a stock OpenTelemetry producer sends them (``seqs`` then only
        # number the bodies and timestamps).
        attrs = {"tasklogs.seq": str(seq)} if with_seq else {}
        if last:
            attrs |= {"cicd.pipeline.task.run.result": "success", "process.exit.code": "0"}
        b.log_attributes.append(attrs)
        b.event_name.append("tasklogs.task.end" if last else "")
    return b


@dataclass
class Event:
    event: str
    data: dict[str, Any]
    id: str | None


@dataclass
class SSEReader:
    """Reads SSE events from an open response into a list, in the background."""

    response: httpx.Response
    events: list[Event] = field(default_factory=list)
    comments: int = 0
    retry: int | None = None
    closed: bool = False
    received_at: list[float] = field(default_factory=list)

    async def run(self) -> None:
        fields: dict[str, str] = {}
        try:
            async for line in self.response.aiter_lines():
                if line == "":
                    if "event" in fields or "data" in fields:
                        self.events.append(
                            Event(
                                fields.get("event", "message"),
                                json.loads(fields.get("data", "null")),
                                fields.get("id"),
                            )
                        )
                        self.received_at.append(time.perf_counter())
                    fields = {}
                elif line.startswith(":"):
                    self.comments += 1
                else:
                    name, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if name == "retry":
                        self.retry = int(value)
                    else:
                        fields[name] = value
        except (httpx.HTTPError, asyncio.CancelledError):
            pass
        finally:
            self.closed = True

    def logs(self) -> list[Event]:
        return [e for e in self.events if e.event == "log"]

    def seqs(self) -> list[int]:
        return [int(e.data["seq"]) for e in self.logs()]

    async def wait(self, predicate: Any, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out; got {[(e.event, e.id) for e in self.events][-20:]}"
                )
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def open_stream(
    client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None
) -> AsyncIterator[SSEReader]:
    async with client.stream("GET", url, headers=headers or {}) as resp:
        assert resp.status_code == 200, (resp.status_code, await resp.aread())
        reader = SSEReader(resp)
        task = asyncio.create_task(reader.run())
        try:
            yield reader
        finally:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """Run ``app`` on uvicorn on a free loopback port inside this event loop."""
    port = free_port()
    server = QuietServer(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
            raise RuntimeError("uvicorn did not start")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        app.state.live.shutdown()
        server.should_exit = True
        await asyncio.wait_for(task, 10)
