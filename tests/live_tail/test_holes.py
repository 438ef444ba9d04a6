"""Lines the bus gets out of seq order (a dead writer's pending entries, claimed and
published after newer ones): every follower gets them once, in seq order, or a gap."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from tests.live_tail.conftest import Live
from tests.live_tail.support import make_batch, open_stream

LiveFactory = Callable[..., contextlib.AbstractAsyncContextManager[Live]]

_URL = "/api/v1/tasks/{}/logs/stream"


async def test_late_lines_go_out_in_seq_order(live: Live) -> None:
    live.publish(make_batch("tr-late", range(1, 11)))
    async with open_stream(live.client, _URL.format("tr-late")) as r:
        await r.wait(lambda r: len(r.logs()) >= 10)
        live.publish(make_batch("tr-late", range(21, 31)))  # 11..20 are late
        live.publish(make_batch("tr-late", range(11, 21)))
        await r.wait(lambda r: len(r.logs()) >= 30)
    assert r.seqs() == list(range(1, 31))
    assert [e.id for e in r.logs()] == [str(i) for i in range(1, 31)]
    assert not [e for e in r.events if e.event == "gap"]


async def test_late_lines_missing_from_the_bus_come_from_the_store(
    live_factory: LiveFactory,
) -> None:
    async with live_factory(reorder_wait_s=0.2) as live:
        live.publish(make_batch("tr-hole", range(1, 11)))
        async with open_stream(live.client, _URL.format("tr-hole")) as r:
            await r.wait(lambda r: len(r.logs()) >= 10)
            live.publish(make_batch("tr-hole", range(11, 21)), live=False)  # store only
            live.publish(make_batch("tr-hole", range(21, 31)))
            await r.wait(lambda r: len(r.logs()) >= 30)
    assert r.seqs() == list(range(1, 31))
    assert not [e for e in r.events if e.event == "gap"]


async def test_lines_in_neither_bus_nor_store_are_a_gap_after_the_wait(
    live_factory: LiveFactory,
) -> None:
    async with live_factory(reorder_wait_s=0.1, hole_wait_s=0.5) as live:
        live.publish(make_batch("tr-gone", range(1, 11)))
        async with open_stream(live.client, _URL.format("tr-gone")) as r:
            await r.wait(lambda r: len(r.logs()) >= 10)
            live.publish(make_batch("tr-gone", range(21, 31)))  # 11..20 never come
            await r.wait(lambda r: len(r.logs()) >= 20)
    gaps = [e.data for e in r.events if e.event == "gap"]
    assert [(g["from_seq"], g["to_seq"]) for g in gaps] == [(11, 20)]
    assert r.seqs() == [*range(1, 11), *range(21, 31)]


async def test_resume_reads_an_out_of_order_bus_in_seq_order(live: Live) -> None:
    live.publish(make_batch("tr-res", range(1, 11)))
    live.publish(make_batch("tr-res", range(21, 31)))
    live.publish(make_batch("tr-res", range(11, 21)))
    async with open_stream(live.client, _URL.format("tr-res"), {"Last-Event-ID": "5"}) as r:
        await r.wait(lambda r: len(r.logs()) >= 25)
    assert r.seqs() == list(range(6, 31))
    assert not [e for e in r.events if e.event == "gap"]
