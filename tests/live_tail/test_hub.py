"""The fan-out hub writes caught-up followers' events straight to their connections, and
hands a follower back to its own task whenever that is not exactly the same: a hole in
the seqs, a slow reader, the end; the events each client gets stay those of its stream."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid

from live_tail.direct import frame
from tests.live_tail.conftest import Live
from tests.live_tail.support import make_batch, open_stream


def _url(tid: str, query: str = "") -> str:
    return f"/api/v1/tasks/{tid}/logs/stream{query}"


async def _direct(live: Live, n: int) -> None:
    """Until ``n`` followers are direct (their group's loop writes for them)."""
    for _ in range(500):
        if sum(len(g.direct) for g in live.ctx.hub._groups.values()) >= n:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("followers did not go direct")


def test_frame_is_one_http_chunk() -> None:
    assert frame(b"data: x\n\n") == b"9\r\ndata: x\n\n\r\n"


async def test_direct_followers_get_the_events_of_their_filter_once_in_order(
    live: Live,
) -> None:
    tid = f"tr-hub-{uuid.uuid4().hex[:6]}"
    live.publish(make_batch(tid, range(1, 4)))
    async with contextlib.AsyncExitStack() as stack:
        plain = [
            await stack.enter_async_context(open_stream(live.client, _url(tid))) for _ in range(3)
        ]
        errors = await stack.enter_async_context(
            open_stream(live.client, _url(tid, "?min_severity=ERROR"))
        )
        grep = await stack.enter_async_context(
            open_stream(live.client, _url(tid, "?include=line%20(5|7)"))
        )
        for r in plain:
            await r.wait(lambda r: len(r.logs()) >= 3)
        await _direct(live, 5)
        writes = live.ctx.hub.direct_writes
        for seq in range(4, 9):
            live.publish(make_batch(tid, [seq], severity=17 if seq % 2 else 9))
            await asyncio.sleep(0.02)
        live.publish(make_batch(tid, [9, 10], end=True))
        for r in [*plain, errors, grep]:
            await r.wait(lambda r: r.closed)
    assert live.ctx.hub.direct_writes > writes  # the hub wrote, not each client's task
    first = [(e.id, e.data) for e in plain[0].logs()]
    for r in plain:
        assert r.seqs() == list(range(1, 11))
        assert [(e.id, e.data) for e in r.logs()] == first
        assert [e.event for e in r.events][-1] == "end"
    assert errors.seqs() == [5, 7]
    assert grep.seqs() == [5, 7]
    assert [e.event for e in errors.events][-1] == "end"


async def test_a_hole_hands_followers_back_and_the_late_lines_go_first(live: Live) -> None:
    tid = f"tr-hub-{uuid.uuid4().hex[:6]}"
    live.publish(make_batch(tid, [1, 2]))
    async with open_stream(live.client, _url(tid)) as r:
        await r.wait(lambda r: len(r.logs()) >= 2)
        await _direct(live, 1)
        back = live.ctx.hub.handbacks
        live.publish(make_batch(tid, [5, 6]))  # 3 and 4 come late
        await asyncio.sleep(0.05)
        live.publish(make_batch(tid, [3, 4]))
        await r.wait(lambda r: len(r.logs()) >= 6)
        assert live.ctx.hub.handbacks > back
        await _direct(live, 1)  # caught up again: direct again
        live.publish(make_batch(tid, [7], end=True))
        await r.wait(lambda r: r.closed)
    assert r.seqs() == list(range(1, 8))


async def test_a_slow_reader_is_handed_back_and_does_not_stall_the_others(live: Live) -> None:
    tid = f"tr-hub-{uuid.uuid4().hex[:6]}"
    live.publish(make_batch(tid, [1]))
    host, port = live.url.removeprefix("http://").split(":")
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: small window
    slow.connect((host, int(port)))
    slow.sendall(f"GET {_url(tid)} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    try:
        async with open_stream(live.client, _url(tid)) as fast:
            await fast.wait(lambda r: len(r.logs()) >= 1)
            await _direct(live, 2)
            back = live.ctx.hub.handbacks
            body = "x" * 25_000 + " {seq}"
            for start in range(2, 402, 10):  # ~10 MB the slow one never reads
                live.publish(make_batch(tid, range(start, start + 10), body=body))
                await asyncio.sleep(0.005)
            await fast.wait(lambda r: len(r.logs()) >= 401, timeout=60)
            assert live.ctx.hub.handbacks > back  # the slow one left the shared loop
            assert fast.seqs() == list(range(1, 402))
    finally:
        slow.close()


async def test_shutdown_reaches_direct_followers(live: Live) -> None:
    tid = f"tr-hub-{uuid.uuid4().hex[:6]}"
    live.publish(make_batch(tid, [1]))
    async with open_stream(live.client, _url(tid)) as r:
        await r.wait(lambda r: len(r.logs()) >= 1)
        await _direct(live, 1)
        live.ctx.shutdown()
        await r.wait(lambda r: r.closed)
    assert r.retry is not None  # the goodbye: retry, then the stream closes
