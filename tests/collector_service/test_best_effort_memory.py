"""In process, a best-effort runner (the live tail) never makes the pipeline refuse."""

from __future__ import annotations

import threading

import pytest

from collector_service.component.model import LogBatch
from collector_service.errors import BackpressureError
from collector_service.metrics import REGISTRY
from collector_service.pipeline.memory import ExporterRunner
from collector_service.pipeline.router import Pipeline
from tests.collector_service.test_pipeline import Recorder, entry, helper


def _skipped(exporter: str) -> float:
    value = REGISTRY.get_sample_value(
        "tasklogs_exporter_skipped_log_records_total", {"exporter": exporter}
    )
    return value or 0.0


def _held(rec: Recorder, gate: threading.Event) -> None:
    original = rec.push

    def blocked_push(batch: LogBatch) -> None:
        gate.wait(5)
        original(batch)

    rec.push = blocked_push  # type: ignore[method-assign]


async def test_a_full_best_effort_queue_skips_for_itself_only() -> None:
    store, live = Recorder(), Recorder()
    gate = threading.Event()
    _held(live, gate)
    durable = ExporterRunner("store", store, helper())
    tail = ExporterRunner(
        "live_be", live, helper(sending_queue={"queue_size": 50}), best_effort=True
    )
    await durable.start()
    await tail.start()
    pipeline = Pipeline([durable, tail])
    before = _skipped("live_be")
    try:
        await pipeline.submit(entry(40))
        await pipeline.submit(entry(20, start=40))  # the live tail's queue is full
        await pipeline.submit(entry(5, start=60))
    finally:
        gate.set()
        await durable.stop(timeout=5)
        await tail.stop(timeout=5)
    assert pipeline.refused_records == 0
    assert pipeline.accepted_records == 65
    assert sorted(store.bodies()) == sorted(f"l{i}" for i in range(65))
    assert sorted(live.bodies()) == sorted(
        [f"l{i}" for i in range(40)] + ["l60", "l61", "l62", "l63", "l64"]
    )
    assert tail.stats.skipped_records == 20
    assert _skipped("live_be") - before == 20


async def test_a_full_durable_queue_still_refuses_and_nothing_is_skipped() -> None:
    store, live = Recorder(), Recorder()
    gate = threading.Event()
    _held(store, gate)
    durable = ExporterRunner("store", store, helper(sending_queue={"queue_size": 50}))
    tail = ExporterRunner("live_be2", live, helper(), best_effort=True)
    await durable.start()
    await tail.start()
    pipeline = Pipeline([durable, tail])
    try:
        await pipeline.submit(entry(40))
        with pytest.raises(BackpressureError, match="store queue is full"):
            await pipeline.submit(entry(20))
    finally:
        gate.set()
        await durable.stop(timeout=5)
        await tail.stop(timeout=5)
    assert tail.stats.skipped_records == 0
    assert len(live.bodies()) == len(store.bodies()) == 40
