"""One decode per accepted request for all in-process runners, within a memory bound."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from collector_service.component.model import LogBatch
from collector_service.pipeline.entry import IngestEntry
from collector_service.pipeline.shared_decode import SharedDecode
from tests.collector_service.test_pipeline import entry


def _held(e: IngestEntry) -> LogBatch | None:
    return e.decoded  # read afresh (each take() changes it)


def test_the_first_runner_decodes_and_the_last_lets_go() -> None:
    shared = SharedDecode()
    e = entry(3)
    e.consumers, e.shared = 2, shared
    first = shared.take(e)
    assert first.body == ["l0", "l1", "l2"]
    assert _held(e) is first
    assert shared.records == 3
    assert shared.take(e) is first  # the second runner copies it, decodes nothing
    assert _held(e) is None
    assert shared.records == 0


def test_past_the_bound_a_lagging_runner_decodes_for_itself() -> None:
    shared = SharedDecode(max_records=5)
    held, over = entry(4), entry(4, start=4)
    for e in (held, over):
        e.consumers, e.shared = 2, shared
        shared.take(e)
    assert _held(held) is not None
    assert _held(over) is None  # would pass the bound: not kept
    assert shared.records == 4
    assert shared.take(over).body == ["l4", "l5", "l6", "l7"]
    shared.take(held)
    assert shared.records == 0


def _counting(calls: list[int], n: int, start: int = 0) -> Callable[[], LogBatch]:
    def decode() -> LogBatch:
        calls.append(start)
        return LogBatch(body=[f"l{i}" for i in range(start, start + n)])

    return decode


def test_keyed_takers_share_one_decode_and_the_last_lets_go() -> None:
    shared = SharedDecode()
    calls: list[int] = []
    first = shared.take_keyed(("s", "1-0"), 2, 3, _counting(calls, 3))
    assert shared.records == 3
    assert shared.held() == 1
    assert shared.take_keyed(("s", "1-0"), 2, 3, _counting(calls, 3)) is first
    assert calls == [0]  # one decode for both
    assert shared.records == 0
    assert shared.held() == 0


def test_keyed_bound_lets_the_oldest_go_and_a_lagging_taker_decodes_itself() -> None:
    shared = SharedDecode(max_records=10)
    calls: list[int] = []
    for i in range(5):  # the fast consumer takes five 4-record entries
        shared.take_keyed(("s", f"{i}-0"), 2, 4, _counting(calls, 4, i * 4))
        assert shared.records <= 10
    assert shared.held() == 2  # only the newest two fit the bound
    for i in range(5):  # the lagging consumer catches up
        got = shared.take_keyed(("s", f"{i}-0"), 2, 4, _counting(calls, 4, i * 4))
        assert got.body == [f"l{j}" for j in range(i * 4, i * 4 + 4)]
        assert shared.records <= 10
    assert len(calls) == 5 + 3  # three entries were let go: decoded again
    assert shared.records == 0
    assert shared.held() == 0
    assert len(shared.take_keyed(("s", "big"), 2, 11, _counting(calls, 11)).body) == 11
    assert shared.held() == 0  # larger than the bound: never kept


def test_keyed_concurrent_takers_wait_for_the_one_decoding() -> None:
    shared = SharedDecode()
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def slow() -> LogBatch:
        calls.append(0)
        started.set()
        release.wait(5)
        return LogBatch(body=["x"])

    out: list[LogBatch] = []
    first = threading.Thread(target=lambda: out.append(shared.take_keyed("k", 2, 1, slow)))
    first.start()
    assert started.wait(5)
    second = threading.Thread(target=lambda: out.append(shared.take_keyed("k", 2, 1, slow)))
    second.start()
    release.set()
    first.join(5)
    second.join(5)
    assert calls == [0]
    assert out[0] is out[1]


def test_a_failed_keyed_decode_lets_the_others_decode_for_themselves() -> None:
    shared = SharedDecode()

    def broken() -> LogBatch:
        raise ValueError("poison")

    with pytest.raises(ValueError, match="poison"):
        shared.take_keyed("k", 2, 1, broken)
    assert shared.records == 0
    assert shared.held() == 0
    with pytest.raises(ValueError, match="poison"):
        shared.take_keyed("k", 2, 1, broken)
