"""One decode per accepted request for all in-process runners, within a memory bound."""

from __future__ import annotations

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
