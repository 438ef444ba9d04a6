"""Lines without a ``tasklogs.seq`` (stock OpenTelemetry producers) on a task stream: ids
that name their place, and resumes from them, on every bus over real HTTP."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest

from collector_service.component.store import Cursor
from live_tail.task_position import TaskPosition, parse_task_id
from tests.live_tail.conftest import Live
from tests.live_tail.support import SSEReader, make_batch, open_stream

LiveFactory = Callable[..., contextlib.AbstractAsyncContextManager[Live]]
URL = "/api/v1/tasks/{tid}/logs/stream"


def _bodies(r: SSEReader) -> list[str]:
    return [e.data["body"] for e in r.logs()]


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("12", TaskPosition(seq=12)),
        ("1700000000000-3/7", TaskPosition(entry=(1700000000000, 3), index=7)),
        (
            "s/0-1700000000000000123",
            TaskPosition(
                seq=0, after_ts=1700000000000000123, cursor=Cursor(0, 1700000000000000123)
            ),
        ),
        ("s/0-5-tr-1", TaskPosition(seq=0, after_ts=5, cursor=Cursor(0, 5, "tr-1"))),
        ("s/0-5.77-tr-1", TaskPosition(seq=0, after_ts=5, cursor=Cursor(0, 5, "tr-1", 77))),
    ],
)
def test_ids_parse(text: str, want: TaskPosition) -> None:
    assert parse_task_id(text) == want


@pytest.mark.parametrize(
    "text", ["", "x", "-1", "1-2", "1-2/x", "s/x", "a/3", "s/-1-2", "s/0-5.x", "s/0-5.-1"]
)
def test_bad_ids_are_refused(text: str) -> None:
    assert parse_task_id(text) is None


async def test_live_lines_without_seq_resume_at_their_place(live: Live) -> None:
    live.publish(make_batch("tr-ns", range(1, 11), with_seq=False))
    url = URL.format(tid="tr-ns")
    async with open_stream(live.client, url) as r1:
        await r1.wait(lambda r: len(r.logs()) >= 10)
        live.publish(make_batch("tr-ns", range(11, 21), with_seq=False))
        await r1.wait(lambda r: len(r.logs()) >= 20)
    ids = [e.id for e in r1.logs()]
    assert len(set(ids)) == 20
    assert all(i is not None and "/" in i for i in ids)
    mid = r1.logs()[4].id  # inside the first entry
    assert mid is not None
    live.publish(make_batch("tr-ns", range(21, 26), with_seq=False))
    async with open_stream(live.client, url, {"Last-Event-ID": mid}) as r2:
        await r2.wait(lambda r: len(r.logs()) >= 20)
        live.publish(make_batch("tr-ns", [26], with_seq=False))
        await r2.wait(lambda r: len(r.logs()) >= 21)
    assert _bodies(r2) == [f"line {i}" for i in range(6, 27)]
    assert not [e for e in r2.events if e.event == "gap"]


async def test_a_place_trimmed_away_is_a_gap_then_what_the_stream_holds(
    live_factory: LiveFactory,
) -> None:
    async with live_factory(maxlen=100) as live:
        live.publish(make_batch("tr-nt", range(1, 11), with_seq=False))
        url = URL.format(tid="tr-nt")
        async with open_stream(live.client, url) as r1:
            await r1.wait(lambda r: len(r.logs()) >= 10)
        for start in range(11, 311, 30):
            live.publish(make_batch("tr-nt", range(start, start + 30), with_seq=False))
        last = r1.logs()[-1].id
        assert last is not None
        async with open_stream(live.client, url, {"Last-Event-ID": last}) as r2:
            await r2.wait(lambda r: bool(r.logs()) and r.logs()[-1].data["body"] == "line 310")
        assert r2.events[0].event == "gap"
        assert "tasklogs.seq" in r2.events[0].data["reason"]
        bodies = _bodies(r2)
        first = int(bodies[0].removeprefix("line "))
        assert first > 11
        assert bodies == [f"line {i}" for i in range(first, 311)]


async def test_stored_lines_without_seq_resume_from_their_cursor(live: Live) -> None:
    live.publish(make_batch("tr-nst", range(1, 21), with_seq=False, end=False), live=False)
    url = URL.format(tid="tr-nst")
    async with open_stream(live.client, url) as r1:
        await r1.wait(lambda r: len(r.logs()) >= 20)
    ids = [e.id for e in r1.logs()]
    assert all(i is not None and i.startswith("s/") for i in ids)
    mid = ids[7]
    assert mid is not None
    async with open_stream(live.client, url, {"Last-Event-ID": mid}) as r2:
        await r2.wait(lambda r: len(r.logs()) >= 12)
        # The task comes live again: only newer lines follow, none twice.
        live.publish(make_batch("tr-nst", range(15, 25), with_seq=False), store=False)
        await r2.wait(lambda r: len(r.logs()) >= 16)
    assert _bodies(r2) == [f"line {i}" for i in range(9, 25)]


async def test_stored_lines_sharing_one_timestamp_resume_exactly(live: Live) -> None:
    """A stock producer's lines with one timestamp: the store cursor in the id is total."""
    batch = make_batch("tr-same", range(1, 2501), with_seq=False)
    batch.timestamp[:] = [batch.timestamp[0]] * len(batch)
    live.publish(batch, live=False)
    url = URL.format(tid="tr-same")
    async with open_stream(live.client, url) as r1:
        await r1.wait(lambda r: len(r.logs()) >= 1000)  # history_lines: the newest 1000
    ids = [e.id for e in r1.logs()]
    assert len(set(ids)) == 1000
    assert _bodies(r1) == [f"line {i}" for i in range(1501, 2501)]
    first = ids[0]
    assert first is not None
    # Resume from the first of them: exactly the 999 after it, none twice.
    async with open_stream(live.client, url, {"Last-Event-ID": first}) as r2:
        await r2.wait(lambda r: len(r.logs()) >= 999)
        live.publish(make_batch("tr-same", [9999], with_seq=False), store=False)
        await r2.wait(lambda r: len(r.logs()) >= 1000)
    assert _bodies(r2) == [f"line {i}" for i in range(1502, 2501)] + ["line 9999"]
