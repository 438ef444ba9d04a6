"""The SSE streams over real HTTP, on the in-process bus and on real Redis, with chDB."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable

import pytest

from live_tail.metrics import REGISTRY
from tests.live_tail.conftest import Live
from tests.live_tail.support import SSEReader, make_batch, open_stream

LiveFactory = Callable[..., contextlib.AbstractAsyncContextManager[Live]]


def _task_url(tid: str, query: str = "") -> str:
    return f"/api/v1/tasks/{tid}/logs/stream{query}"


async def test_history_then_live_in_order(live: Live) -> None:
    live.publish(make_batch("tr-1", range(1, 6)))
    async with open_stream(live.client, _task_url("tr-1")) as r:
        await r.wait(lambda r: len(r.logs()) >= 5)
        live.publish(make_batch("tr-1", range(6, 11)))
        await r.wait(lambda r: len(r.logs()) >= 10)
        assert r.seqs() == list(range(1, 11))
        assert [e.id for e in r.logs()] == [str(i) for i in range(1, 11)]
        first = r.logs()[0].data
        assert first["task_run_id"] == "tr-1"
        assert first["body"] == "line 1"


async def test_fresh_client_gets_the_last_n_lines_then_live(live_factory: LiveFactory) -> None:
    async with live_factory(history_lines=5) as live:
        live.publish(make_batch("tr-n", range(1, 21)))
        async with open_stream(live.client, _task_url("tr-n")) as r:
            await r.wait(lambda r: len(r.logs()) >= 5)
            live.publish(make_batch("tr-n", [21]))
            await r.wait(lambda r: len(r.logs()) >= 6)
            assert r.seqs() == [16, 17, 18, 19, 20, 21]


async def test_store_only_task_is_served_from_the_store(live: Live) -> None:
    live.publish(make_batch("tr-old", range(1, 8), end=True), live=False)
    async with open_stream(live.client, _task_url("tr-old")) as r:
        await r.wait(lambda r: r.closed)
    assert r.seqs() == list(range(1, 8))
    assert [e.event for e in r.events][-1] == "end"


async def test_killed_connection_resumes_exactly_once(live: Live) -> None:
    live.publish(make_batch("tr-r", range(1, 21)))
    async with open_stream(live.client, _task_url("tr-r")) as r1:
        await r1.wait(lambda r: len(r.logs()) >= 20)
        live.publish(make_batch("tr-r", range(21, 31)))
        await r1.wait(lambda r: len(r.logs()) >= 25)
    # The connection is gone mid-stream; lines keep coming meanwhile.
    live.publish(make_batch("tr-r", range(31, 61)))
    last = r1.logs()[-1].id
    assert last is not None
    async with open_stream(live.client, _task_url("tr-r"), {"Last-Event-ID": last}) as r2:
        live.publish(make_batch("tr-r", range(61, 71), end=True))
        await r2.wait(lambda r: r.closed)
    seen = r1.seqs() + r2.seqs()
    assert seen == list(range(1, 71))
    assert not [e for e in r2.events if e.event == "gap"]
    assert r2.events[-1].event == "end"


async def test_resume_after_trim_backfills_from_the_store(live_factory: LiveFactory) -> None:
    async with live_factory(maxlen=100) as live:
        live.publish(make_batch("tr-t", range(1, 11)))
        async with open_stream(live.client, _task_url("tr-t")) as r1:
            await r1.wait(lambda r: len(r.logs()) >= 10)
        for start in range(11, 511, 50):
            live.publish(make_batch("tr-t", range(start, start + 50)))
        async with open_stream(live.client, _task_url("tr-t"), {"Last-Event-ID": "10"}) as r2:
            await r2.wait(lambda r: len(r.logs()) >= 500)
            await asyncio.sleep(0.2)
        assert r2.seqs() == list(range(11, 511))
        assert not [e for e in r2.events if e.event == "gap"]


async def test_lines_in_neither_stream_nor_store_are_a_gap_event(
    live_factory: LiveFactory,
) -> None:
    async with live_factory(maxlen=100) as live:
        live.publish(make_batch("tr-g", range(1, 11)))
        # Lines 11..400 reach the bus but not (yet) the store; the bus keeps ~the last 100.
        for start in range(11, 401, 30):
            live.publish(make_batch("tr-g", range(start, min(start + 30, 401))), store=False)
        async with open_stream(live.client, _task_url("tr-g"), {"Last-Event-ID": "5"}) as r:
            await r.wait(lambda r: bool(r.seqs()) and r.seqs()[-1] == 400)
        gaps = [e for e in r.events if e.event == "gap"]
        assert len(gaps) == 1
        gap = gaps[0].data
        assert gap["from_seq"] == 11
        assert "trimmed" in gap["reason"]
        seqs = r.seqs()
        assert seqs[:5] == [6, 7, 8, 9, 10]
        assert seqs[5] == gap["to_seq"] + 1
        assert seqs[5:] == list(range(seqs[5], 401))


async def test_end_event_closes_the_task_stream(live: Live) -> None:
    async with open_stream(live.client, _task_url("tr-e")) as r:
        live.publish(make_batch("tr-e", range(1, 4)))
        await r.wait(lambda r: len(r.logs()) >= 3)
        live.publish(make_batch("tr-e", range(4, 6), end=True))
        await r.wait(lambda r: r.closed)
    assert [e.event for e in r.events] == ["log"] * 5 + ["end"]
    end = r.events[-1]
    assert end.data["result"] == "success"
    assert end.data["exit_code"] == 0
    assert end.id == "5"


async def test_run_stream_sees_a_task_that_starts_later(live: Live) -> None:
    live.publish(make_batch("tr-a", range(1, 4), run="run-late", task_name="a"))
    async with open_stream(live.client, "/api/v1/runs/run-late/logs/stream") as r:
        await r.wait(lambda r: len(r.logs()) >= 3)
        live.publish(make_batch("tr-b", range(1, 3), run="run-late", task_name="b", end=True))
        live.publish(make_batch("tr-a", [4], run="run-late", task_name="a"))
        live.publish(make_batch("tr-x", [1], run="other-run"))
        await r.wait(lambda r: len(r.logs()) >= 6)
        got = [(e.data["task_run_id"], e.data["seq"]) for e in r.logs()]
        assert got == [("tr-a", 1), ("tr-a", 2), ("tr-a", 3), ("tr-b", 1), ("tr-b", 2), ("tr-a", 4)]
        ends = [e for e in r.events if e.event == "end"]
        assert [e.data["task_run_id"] for e in ends] == ["tr-b"]
        assert not r.closed  # a run stream outlives its tasks


async def test_run_stream_resumes_inside_an_entry(live: Live) -> None:
    live.publish(make_batch("tr-1", range(1, 11), run="run-res"))  # one bus entry
    async with open_stream(live.client, "/api/v1/runs/run-res/logs/stream") as r1:
        await r1.wait(lambda r: len(r.logs()) >= 10)
    mid = r1.logs()[3]  # resume from the middle of the entry
    assert mid.id is not None
    assert mid.id.endswith("/3")
    live.publish(make_batch("tr-2", range(1, 6), run="run-res"))
    async with open_stream(
        live.client, "/api/v1/runs/run-res/logs/stream", {"Last-Event-ID": mid.id}
    ) as r2:
        await r2.wait(lambda r: len(r.logs()) >= 11)
        await asyncio.sleep(0.1)
    got = [(e.data["task_run_id"], e.data["seq"]) for e in r2.logs()]
    assert got == [("tr-1", s) for s in range(5, 11)] + [("tr-2", s) for s in range(1, 6)]


async def test_live_filters(live: Live) -> None:
    live.publish(make_batch("tr-f", range(1, 6), body="ok {seq}"))
    live.publish(make_batch("tr-f", range(6, 9), severity=17, body="boom {seq}"))
    live.publish(make_batch("tr-f", range(9, 12), body="ok {seq} retry"))
    async with open_stream(live.client, _task_url("tr-f", "?min_severity=ERROR")) as r:
        await r.wait(lambda r: len(r.logs()) >= 3)
        await asyncio.sleep(0.1)
        assert r.seqs() == [6, 7, 8]
    async with open_stream(live.client, _task_url("tr-f", "?include=^ok&exclude=retry$")) as r:
        await r.wait(lambda r: len(r.logs()) >= 5)
        live.publish(make_batch("tr-f", [12, 13], body="ok {seq}"))
        await r.wait(lambda r: len(r.logs()) >= 7)
        assert r.seqs() == [1, 2, 3, 4, 5, 12, 13]
    async with open_stream(
        live.client, _task_url("tr-f", "?attr=cicd.pipeline.task.name=build&attr=tasklogs.seq=7")
    ) as r:
        await r.wait(lambda r: len(r.logs()) >= 1)
        assert r.seqs() == [7]
    run = "/api/v1/runs/run-1/logs/stream?task_name=other"
    live.publish(make_batch("tr-o", [1, 2], task_name="other"))
    async with open_stream(live.client, run) as r:
        await r.wait(lambda r: len(r.logs()) >= 2)
        await asyncio.sleep(0.1)
        assert {e.data["task_run_id"] for e in r.logs()} == {"tr-o"}
    bad = await live.client.get(_task_url("tr-f", "?include=("))
    assert bad.status_code == 400
    assert "regular expression" in bad.json()["detail"]


async def test_many_subscribers_all_see_every_line(live_factory: LiveFactory) -> None:
    async with (
        live_factory(max_streams_per_tenant=250) as live,
        contextlib.AsyncExitStack() as stack,
    ):
        readers: list[SSEReader] = []
        for _ in range(200):
            readers.append(
                await stack.enter_async_context(open_stream(live.client, _task_url("tr-m")))
            )
        await asyncio.sleep(0.3)
        for start in range(1, 101, 20):
            live.publish(make_batch("tr-m", range(start, start + 20)))
            await asyncio.sleep(0.01)
        for r in readers:
            await r.wait(lambda r: len(r.logs()) >= 100, timeout=30)
        assert all(r.seqs() == list(range(1, 101)) for r in readers)


async def test_a_stalled_client_does_not_delay_the_others(live_factory: LiveFactory) -> None:
    async with live_factory(client_buffer_lines=200) as live:
        # The task is live before the stalled client comes: it subscribes at once, and the
        # lines below fill its buffer (not a history read after publishing is over).
        live.publish(make_batch("tr-s", [1]), store=False)
        host, port = live.url.removeprefix("http://").split(":")
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: small window
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
        _reader, writer = await asyncio.open_connection(sock=sock)
        # A client that asks for the stream and then never reads a byte.
        writer.write(f"GET {_task_url('tr-s')} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        await writer.drain()
        await asyncio.sleep(0.2)
        async with open_stream(live.client, _task_url("tr-s")) as good:
            body = "x" * 2000 + " {seq}"
            n = 5000
            loop = asyncio.get_running_loop()
            started = loop.time()
            for start in range(2, n + 1, 100):
                seqs = range(start, min(start + 100, n + 1))
                live.publish(make_batch("tr-s", seqs, body=body), store=False)
                await asyncio.sleep(0)
            publish_s = loop.time() - started
            await good.wait(lambda r: len(r.logs()) >= n, timeout=30)
            delivered_s = loop.time() - started
            assert good.seqs() == list(range(1, n + 1))
        # The stalled client's buffer stayed bounded: it overflowed instead of growing (its
        # stream counts the lag once it runs again; blocked in a send, it may not yet).
        assert live.ctx.lagged >= 1 or any(s.overflowed for s in live.ctx.subs)
        assert _sample("tasklogs_live_tail_resyncs_total", reason="buffer") >= live.ctx.lagged
        assert all(s._lines <= 200 for s in live.ctx.subs)
        # The good client got everything soon after the publisher was done (4 MB of lines).
        assert delivered_s < publish_s + 10
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_per_tenant_stream_limit_is_a_clear_429(live_factory: LiveFactory) -> None:
    refused = _sample("tasklogs_live_tail_refused_streams_total", reason="limit")
    async with live_factory(max_streams_per_tenant=2) as live:
        async with (
            open_stream(live.client, _task_url("a")),
            open_stream(live.client, _task_url("b")),
        ):
            resp = await live.client.get(_task_url("c"))
            assert resp.status_code == 429
            now = _sample("tasklogs_live_tail_refused_streams_total", reason="limit")
            assert now == refused + 1
            assert "limit" in resp.json()["detail"]
            assert resp.headers["retry-after"] == "5"
        await asyncio.sleep(0.2)
        async with open_stream(live.client, _task_url("c")) as r:
            assert r.response.status_code == 200


async def test_shutdown_tells_clients_to_reconnect(live: Live) -> None:
    live.publish(make_batch("tr-sd", range(1, 3)))
    async with open_stream(live.client, _task_url("tr-sd")) as r:
        await r.wait(lambda r: len(r.logs()) >= 2)
        live.ctx.shutdown()
        await r.wait(lambda r: r.closed)
    assert r.retry == 1000


async def test_heartbeats_on_an_idle_stream(live: Live) -> None:
    async with open_stream(live.client, _task_url("tr-idle")) as r:
        await r.wait(lambda r: r.comments >= 2, timeout=5)


@pytest.mark.parametrize("bad", ["abc", "-1x"])
async def test_bad_last_event_id_is_400(live: Live, bad: str) -> None:
    resp = await live.client.get(_task_url("t"), headers={"Last-Event-ID": bad})
    assert resp.status_code == 400
