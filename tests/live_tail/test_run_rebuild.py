"""A run stream resumed where the run stream was trimmed: rebuilt from the task streams
(and the store), exactly once, on both buses, over real HTTP."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from live_tail.bus import TaskInfo
from tests.live_tail.conftest import Live
from tests.live_tail.support import SSEReader, make_batch, open_stream

LiveFactory = Callable[..., contextlib.AbstractAsyncContextManager[Live]]
RUN_URL = "/api/v1/runs/{run}/logs/stream"


def _lines(r: SSEReader) -> list[tuple[str, int]]:
    return [(e.data["task_run_id"], e.data["seq"]) for e in r.logs()]


async def _first_line_at(live: Live, run: str) -> str:
    """A client reads the run's first entry (10 lines of tr-a) and returns its last id."""
    live.publish(make_batch("tr-a", range(1, 11), run=run, task_name="a"))
    async with open_stream(live.client, RUN_URL.format(run=run)) as r:
        await r.wait(lambda r: len(r.logs()) >= 10)
    last = r.logs()[-1].id
    assert last is not None
    return last


async def _assert_run_trimmed_past(live: Live, run: str, last_id: str) -> None:
    ms, _, n = last_id.partition("/")[0].partition("-")
    first = await live.bus.first_id(live.bus.run_key(run))
    assert first is not None
    assert first > (int(ms), int(n)), "the run stream still holds the client's position"


async def _flood(live: Live, run: str, tid: str, seqs: tuple[int, int], client_at: str) -> None:
    """Lines ``seqs`` (first, last) of ``tid`` in 30-line batches: the run stream is
    trimmed past ``client_at`` and the task's own stream past its first line."""
    first, last = seqs
    for start in range(first, last + 1, 30):
        live.publish(make_batch(tid, range(start, start + 30), run=run, task_name=tid))
    key = live.bus.task_key(TaskInfo(run, ""), tid)
    oldest = await live.bus.after(key, (0, 0), (2**62, 0), 1)
    assert oldest[0].chunk.lines[0].seq > first, "the task stream still holds its start"
    await _assert_run_trimmed_past(live, run, client_at)


@contextlib.asynccontextmanager
async def _left_then_flooded(
    live_factory: LiveFactory, run: str, tid: str, seqs: tuple[int, int]
) -> AsyncIterator[tuple[Live, str, str]]:
    """A client read the run's first entry and left; then ``_flood``. Yields the run
    stream's URL and the client's last id."""
    async with live_factory(maxlen=100) as live:
        last = await _first_line_at(live, run)
        await _flood(live, run, tid, seqs, client_at=last)
        yield live, RUN_URL.format(run=run), last


async def test_trimmed_run_stream_is_rebuilt_from_the_task_streams(
    live_factory: LiveFactory,
) -> None:
    async with live_factory(maxlen=100) as live:
        run = "run-rb1"
        async with open_stream(live.client, RUN_URL.format(run=run)) as whole:
            last = await _first_line_at(live, run)
            expected: list[tuple[str, int]] = []
            for k in range(3):  # 3 tasks x 3 entries x 20 lines: the run keeps ~100 lines
                for tid in ("tr-a", "tr-b", "tr-c"):
                    base = 11 if tid == "tr-a" else 1
                    seqs = range(base + 20 * k, base + 20 * (k + 1))
                    live.publish(make_batch(tid, seqs, run=run, task_name=tid))
                    expected += [(tid, s) for s in seqs]
            await whole.wait(lambda r: len(r.logs()) >= 190)
        await _assert_run_trimmed_past(live, run, last)
        url = RUN_URL.format(run=run)
        async with open_stream(live.client, url, {"Last-Event-ID": last}) as r:
            await r.wait(lambda r: len(r.logs()) >= 180)
            live.publish(make_batch("tr-b", [61], run=run, task_name="tr-b"))
            await r.wait(lambda r: len(r.logs()) >= 181)
        assert _lines(r) == [*expected, ("tr-b", 61)]
        assert not [e for e in r.events if e.event == "gap"]
        # The same ids the run stream gave a client that never left.
        assert [e.id for e in r.logs()][:180] == [e.id for e in whole.logs()][10:]


async def test_a_task_trimmed_from_its_own_stream_too_comes_from_the_store(
    live_factory: LiveFactory,
) -> None:
    # tr-d starts after the client left and outgrows its own stream: 300 lines.
    run = "run-rb2"
    async with _left_then_flooded(live_factory, run, "tr-d", (1, 300)) as (live, url, last):
        async with open_stream(live.client, url, {"Last-Event-ID": last}) as r:
            await r.wait(lambda r: len(r.logs()) >= 300)
        assert _lines(r) == [("tr-d", s) for s in range(1, 301)]
        assert not [e for e in r.events if e.event == "gap"]
        from_store = [e for e in r.logs() if e.id and e.id.endswith("/tr-d")]
        assert from_store, "some lines must have come from the store"
        # Resume from a line that came from the store: exactly the rest.
        mid = from_store[len(from_store) // 2]
        assert mid.id is not None
        async with open_stream(live.client, url, {"Last-Event-ID": mid.id}) as r2:
            await r2.wait(lambda r: len(r.logs()) >= 300 - mid.data["seq"])
            live.publish(make_batch("tr-a", [11], run=run, task_name="a"))
            await r2.wait(lambda r: len(r.logs()) >= 301 - mid.data["seq"])
        want = [("tr-d", s) for s in range(mid.data["seq"] + 1, 301)] + [("tr-a", 11)]
        assert _lines(r2) == want
        assert not [e for e in r2.events if e.event == "gap"]


async def test_what_is_owed_but_unknowable_is_a_gap_naming_the_task(
    live_factory: LiveFactory,
) -> None:
    # tr-a goes on past its own stream's length: where the client stood is lost.
    run = "run-rb3"
    async with _left_then_flooded(live_factory, run, "tr-a", (11, 310)) as (live, url, last):
        async with open_stream(live.client, url, {"Last-Event-ID": last}) as r:
            await r.wait(lambda r: bool(r.logs()) and r.logs()[-1].data["seq"] == 310)
        gaps = [e.data for e in r.events if e.event == "gap"]
        assert len(gaps) == 1
        assert gaps[0]["task_run_id"] == "tr-a"
        seqs = [s for _, s in _lines(r)]
        assert seqs == list(range(gaps[0]["to_seq"] + 1, 311))
        assert r.events[0].event == "gap"
