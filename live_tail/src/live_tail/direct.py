"""Writing an SSE stream's bytes straight to its connection, bypassing the ASGI stack.

Each ``send()`` of a streamed body goes through Starlette's middleware, uvicorn's
request cycle and its flow control: some 20 us of Python per client per write, which
at 1,000 followers of one task was most of the fan-out's cost (bench/README.md). The
fan-out hub (:mod:`live_tail.hub`) instead frames one HTTP/1.1 chunk per event batch
once and writes the same ``bytes`` to every follower's transport.

That is only done where it is exactly what uvicorn itself would write: a response of
uvicorn's httptools or h11 cycle, started, chunked, not ``HEAD``, not complete. Anything
else (another server, the test client, HTTP/1.0) has no :class:`DirectWriter` and goes
through ``send()`` as before. The stream's own task is parked (awaiting the hub) while
the hub writes for it, so the chunks of both paths never interleave.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import Receive, Scope

__all__ = ["DirectSlot", "DirectWriter", "direct_writer", "frame"]


def frame(data: bytes) -> bytes:
    """``data`` as one HTTP/1.1 chunk (what uvicorn writes for a body part)."""
    return b"%x\r\n%b\r\n" % (len(data), data)


class DirectWriter:
    """One response's transport, for the hub; see the module docstring."""

    __slots__ = ("_cycle", "transport")

    def __init__(self, cycle: Any, transport: asyncio.WriteTransport) -> None:
        self._cycle = cycle
        self.transport = transport

    def usable(self) -> bool:
        """Whether a chunk can go out now without waiting (or being lost)."""
        cycle = self._cycle
        return not (
            cycle.disconnected
            or cycle.response_complete
            or cycle.flow.write_paused
            or self.transport.is_closing()
        )

    def write(self, chunk: bytes) -> None:
        """Write one framed chunk (:func:`frame`)."""
        self.transport.write(chunk)


def direct_writer(scope: Scope, receive: Receive) -> DirectWriter | None:
    """The response's :class:`DirectWriter` when it is served by uvicorn's httptools or
    h11 cycle with chunked encoding, else ``None``. Call once the response started."""
    if scope.get("method") == "HEAD" or scope.get("http_version") == "1.0":
        return None
    cycle: Any = getattr(receive, "__self__", None)
    ok = (
        cycle is not None
        and _chunked(cycle)
        and getattr(cycle, "response_started", False)
        and not getattr(cycle, "response_complete", True)
        and getattr(cycle, "flow", None) is not None
        and getattr(cycle, "transport", None) is not None
    )
    return DirectWriter(cycle, cycle.transport) if ok else None


def _chunked(cycle: Any) -> bool:
    """Whether ``cycle`` is uvicorn's, writing this body with chunked encoding."""
    module = type(cycle).__module__
    if type(cycle).__name__ != "RequestResponseCycle":
        return False
    if module == "uvicorn.protocols.http.httptools_impl":
        return getattr(cycle, "chunked_encoding", None) is True
    if module == "uvicorn.protocols.http.h11_impl":
        conn = getattr(cycle, "conn", None)
        return type(getattr(conn, "_writer", None)).__name__ == "ChunkedWriter"
    return False


class DirectSlot:
    """Handed to a stream's body and its :class:`~live_tail.sse.SSEResponse`: the
    response fills it in once it has started, the body asks it for the writer."""

    __slots__ = ("_receive", "_scope", "_writer")

    def __init__(self) -> None:
        self._scope: Scope | None = None
        self._receive: Receive | None = None
        self._writer: DirectWriter | None = None

    def bind(self, scope: Scope, receive: Receive) -> None:
        self._scope, self._receive = scope, receive

    def writer(self) -> DirectWriter | None:
        """The writer, looked up the first time it is asked for after the start."""
        if self._writer is None and self._scope is not None and self._receive is not None:
            self._writer = direct_writer(self._scope, self._receive)
            if self._writer is None:
                self._scope = self._receive = None  # not available: do not look again
        return self._writer
