"""Late lines on a run stream (a dead writer's pending entries, claimed and published
after newer ones): each task run of the run is held behind its own seq hole while the
others go on; every follower gets every line once, in seq order per task, or a gap; a
``Last-Event-ID`` resume in the middle of a hold is exact."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from tests.live_tail.conftest import Live
from tests.live_tail.support import SSEReader, make_batch, open_stream

LiveFactory = Callable[..., contextlib.AbstractAsyncContextManager[Live]]

_URL = "/api/v1/runs/{}/logs/stream"


def _seqs(r: SSEReader, tid: str) -> list[int]:
    return [int(e.data["seq"]) for e in r.logs() if e.data["task_run_id"] == tid]


def _gaps(r: SSEReader) -> list[tuple[str, int, int]]:
    return [
        (e.data["task_run_id"], e.data["from_seq"], e.data["to_seq"])
        for e in r.events
        if e.event == "gap"
    ]


async def test_a_late_task_is_held_while_the_others_go_on(live: Live) -> None:
    live.publish(make_batch("a-late", range(1, 11), run="r-late"))
    async with open_stream(live.client, _URL.format("r-late")) as r:
        await r.wait(lambda r: len(r.logs()) >= 10)
        live.publish(make_batch("a-late", range(21, 31), run="r-late"))  # 11..20 are late
        live.publish(make_batch("b-late", range(1, 6), run="r-late"))
        await r.wait(lambda r: len(_seqs(r, "b-late")) >= 5)
        assert _seqs(r, "a-late") == list(range(1, 11))  # held, b went on
        live.publish(make_batch("a-late", range(11, 21), run="r-late"))
        await r.wait(lambda r: len(_seqs(r, "a-late")) >= 30)
    assert _seqs(r, "a-late") == list(range(1, 31))
    assert _seqs(r, "b-late") == list(range(1, 6))
    assert not _gaps(r)


async def test_late_lines_missing_from_the_bus_come_from_the_store(
    live_factory: LiveFactory,
) -> None:
    async with live_factory(reorder_wait_s=0.2) as live:
        live.publish(make_batch("a-hole", range(1, 11), run="r-hole"))
        async with open_stream(live.client, _URL.format("r-hole")) as r:
            await r.wait(lambda r: len(r.logs()) >= 10)
            live.publish(make_batch("a-hole", range(11, 21), run="r-hole"), live=False)
            live.publish(make_batch("a-hole", range(21, 31), run="r-hole"))
            await r.wait(lambda r: len(r.logs()) >= 30)
    assert _seqs(r, "a-hole") == list(range(1, 31))
    assert not _gaps(r)


async def test_lines_in_neither_bus_nor_store_are_a_gap_after_the_wait(
    live_factory: LiveFactory,
) -> None:
    async with live_factory(reorder_wait_s=0.1, hole_wait_s=0.5) as live:
        live.publish(make_batch("a-gone", range(1, 11), run="r-gone"))
        async with open_stream(live.client, _URL.format("r-gone")) as r:
            await r.wait(lambda r: len(r.logs()) >= 10)
            live.publish(make_batch("a-gone", range(21, 31), run="r-gone"))  # 11..20 never
            live.publish(make_batch("b-gone", range(1, 4), run="r-gone"))
            await r.wait(lambda r: len(r.logs()) >= 23)
    assert _gaps(r) == [("a-gone", 11, 20)]
    assert _seqs(r, "a-gone") == [*range(1, 11), *range(21, 31)]
    assert _seqs(r, "b-gone") == [1, 2, 3]


async def test_a_resume_in_the_middle_of_a_hold_is_exact(live: Live) -> None:
    live.publish(make_batch("a-res", range(1, 11), run="r-res"))
    async with open_stream(live.client, _URL.format("r-res")) as first:
        await first.wait(lambda r: len(r.logs()) >= 10)
        live.publish(make_batch("a-res", range(21, 31), run="r-res"))  # 11..20 late
        live.publish(make_batch("b-res", range(1, 6), run="r-res"))
        await first.wait(lambda r: len(_seqs(r, "b-res")) >= 5)
    last = first.logs()[-1].id
    assert last is not None
    assert "~" in last  # the mark: a lane holds
    live.publish(make_batch("a-res", range(11, 21), run="r-res"))
    live.publish(make_batch("b-res", range(6, 9), run="r-res"))
    async with open_stream(live.client, _URL.format("r-res"), {"Last-Event-ID": last}) as r:
        await r.wait(lambda r: len(r.logs()) >= 23)
        # Released lines carry their lane's seq: a resume from one of them is exact too.
        mid = next(e.id for e in r.logs() if e.data["seq"] == 15)
    assert _seqs(r, "a-res") == list(range(11, 31))
    assert _seqs(r, "b-res") == [6, 7, 8]
    assert not _gaps(r)
    assert mid is not None
    async with open_stream(live.client, _URL.format("r-res"), {"Last-Event-ID": mid}) as again:
        await again.wait(lambda r: len(_seqs(r, "a-res")) >= 15)
    assert _seqs(again, "a-res") == list(range(16, 31))
    assert not _gaps(again)


async def test_resume_reads_an_out_of_order_bus_in_seq_order(live: Live) -> None:
    live.publish(make_batch("a-ooo", range(1, 11), run="r-ooo"))
    live.publish(make_batch("a-ooo", range(21, 31), run="r-ooo"))
    live.publish(make_batch("a-ooo", range(11, 21), run="r-ooo"))
    async with open_stream(live.client, _URL.format("r-ooo")) as fresh:
        await fresh.wait(lambda r: len(r.logs()) >= 30)
    assert _seqs(fresh, "a-ooo") == list(range(1, 31))
    fifth = fresh.logs()[4].id
    async with open_stream(live.client, _URL.format("r-ooo"), {"Last-Event-ID": str(fifth)}) as r:
        await r.wait(lambda r: len(r.logs()) >= 25)
    assert _seqs(r, "a-ooo") == list(range(6, 31))
    assert not _gaps(r)
