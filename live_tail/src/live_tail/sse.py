"""SSE wire format and the streaming response that ends itself.

Lines are formatted here rather than through ``fastapi.sse.ServerSentEvent`` because a
pydantic model per line costs more than the line; a line's JSON is built once and shared
by every subscriber. :class:`SSEResponse` watches for the client's disconnect while it
streams (uvicorn's ASGI 2.3 would otherwise notice only at the next write), so a dropped
client frees its slot and its subscription at once. With a
:class:`~live_tail.direct.DirectSlot`, the body may also have its live events written
straight to the connection by the fan-out hub (:mod:`live_tail.hub`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from live_tail.direct import DirectSlot
from live_tail.model import LiveLine

__all__ = ["SSEResponse", "comment", "event", "log_event", "retry"]


def event(name: str, data: dict[str, Any], event_id: str | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f"{head}event: {name}\ndata: {body}\n\n".encode()


def log_event(line: LiveLine, task_run_id: str, task_name: str, event_id: str) -> bytes:
    if line._json is None:
        line._json = json.dumps(
            {
                "task_run_id": task_run_id,
                "task_name": task_name,
                "seq": line.seq,
                "timestamp_ns": line.timestamp_ns,
                "severity_number": line.severity_number,
                "severity_text": line.severity_text,
                "body": line.body,
                "event_name": line.event_name,
                "attributes": line.attributes,
            },
            separators=(",", ":"),
            ensure_ascii=False,
        )
    return f"id: {event_id}\nevent: log\ndata: {line._json}\n\n".encode()


def comment(text: str) -> bytes:
    return f": {text}\n\n".encode()


def retry(ms: int) -> bytes:
    return f"retry: {ms}\n\n".encode()


class SSEResponse(StreamingResponse):
    """``text/event-stream`` that stops on client disconnect and then calls ``on_close``."""

    media_type = "text/event-stream"

    def __init__(
        self,
        content: AsyncIterator[bytes],
        on_close: Callable[[], None] = lambda: None,
        status_code: int = 200,
        slot: DirectSlot | None = None,
    ) -> None:
        super().__init__(
            content,
            status_code=status_code,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self._content = content
        self._on_close = on_close
        self._slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._slot is not None:
            # The body may write straight to the connection (live_tail.direct).
            self._slot.bind(scope, receive)
        try:
            async with anyio.create_task_group() as tg:

                async def _stream() -> None:
                    with contextlib.suppress(OSError):
                        await self.stream_response(send)
                    tg.cancel_scope.cancel()

                tg.start_soon(_stream)
                await self.listen_for_disconnect(receive)
                tg.cancel_scope.cancel()
        finally:
            try:
                aclose = getattr(self._content, "aclose", None)
                if aclose is not None:
                    with anyio.CancelScope(shield=True):
                        await aclose()
            finally:
                self._on_close()
