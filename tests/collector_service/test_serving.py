"""The process-level settings of the latency path: TCP_NODELAY on accepted API sockets,
and the garbage collector settled after start-up."""

from __future__ import annotations

import asyncio
import gc
import socket
from collections.abc import Iterator

import pytest

from collector_service import gc_tune
from collector_service.serving import bind
from tests.support import free_port


async def _accepted_nodelay(sock: socket.socket) -> int:
    got: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raw = writer.get_extra_info("socket")
        got.set_result(raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(on_client, sock=sock)
    async with server:
        host, port = sock.getsockname()[:2]
        _, writer = await asyncio.open_connection(host, port)
        try:
            return await asyncio.wait_for(got, 10)
        finally:
            writer.close()


def test_accepted_api_sockets_have_nodelay() -> None:
    # Nagle on a server socket holds each small SSE write after the first until the
    # client's delayed ACK; asyncio disables it only where the socket's proto says TCP.
    sock = bind(f"127.0.0.1:{free_port()}", "test")
    assert asyncio.run(_accepted_nodelay(sock)) == 1


@pytest.fixture
def gc_restored() -> Iterator[None]:
    before = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


@pytest.mark.usefixtures("gc_restored")
def test_settle_heap_freezes_startup_objects_and_sets_young_threshold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TASKLOGS_GC_TUNE", raising=False)
    kept = [{"startup": i} for i in range(1000)]
    assert gc_tune.settle_heap()
    assert gc.get_freeze_count() >= len(kept)
    assert gc.get_threshold()[0] == gc_tune.GEN0_THRESHOLD


@pytest.mark.usefixtures("gc_restored")
def test_settle_heap_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKLOGS_GC_TUNE", "0")
    threshold = gc.get_threshold()
    assert not gc_tune.settle_heap()
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == threshold
