"""SIGKILL of `tasklogs serve` (repeated) and of a worker under a steady load, with SSE
followers: every acknowledged line is stored, and every follower saw every line once
or a ``gap`` event for it.

The deployment the README recommends for chDB: `tasklogs serve` owns chDB and runs the
writers, plus a `tasklogs worker` for the live tail publisher (a second consumer of its
group, SIGKILLed here too). Redis holds the backlog across every kill.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.durability_support import count_rows
from tests.faults.support import Follower, Load, Service, wait_for
from tests.faults.test_chdb_disk import target
from tests.redis_support import RedisTarget

__all__ = ["target"]  # the fixture

pytestmark = pytest.mark.e2e

_CH = "  clickhouse:\n    batch: {send_batch_max_size: 5000, timeout_ms: 100}\n"


def _missing(follower: Follower, last: int) -> list[int]:
    """Seqs up to ``last`` the follower neither saw nor was told it missed (``gap``)."""
    covered: set[int] = set()
    for gap in follower.gaps:
        lo = int(gap.get("from_seq", gap.get("after_seq", 0)) or 0)
        hi = int(gap.get("to_seq", gap.get("until_seq", lo)) or lo)
        covered.update(range(lo, hi + 1))
    return [s for s in range(1, last + 1) if s not in follower.seqs and s not in covered]


def _ranges(seqs: list[int]) -> list[int]:
    """``[first, last, first, last, ...]`` of the runs in sorted ``seqs`` (short output)."""
    out: list[int] = []
    for s in seqs:
        if out and out[-1] == s - 1:
            out[-1] = s
        else:
            out += [s, s]
    return out


def _progress(load: Load, lines: int) -> None:
    """Let the load acknowledge ``lines`` more (the machine may be slow: no fixed sleeps)."""
    target = load.acked_lines + lines

    def progressed() -> bool:
        assert load.error is None, f"the load failed: {load.error!r}"
        return load.acked_lines >= target

    wait_for(progressed, 120, f"{lines} more lines acknowledged")


def _run(
    tmp_path: Path,
    target: RedisTarget,
    kills: int,
    followers: int,
    *,
    graceful: bool = False,
    kill_worker: bool = True,
) -> list[Follower]:
    svc = Service(tmp_path, _CH, "clickhouse", redis=target)
    svc.write()
    # Four senders, each request waited for in turn, catching up after each outage as
    # fast as the service takes it (many requests' lines land in one batch of a writer).
    load = Load(svc.endpoint, tasks=4, per_request=50, rate=2000, senders=4, catch_up=True)
    readers: list[Follower] = []
    stops: list[float] = []
    try:
        svc.serve()
        svc.worker("live", "--exporter", "live_tail")
        load.start()
        readers = [Follower(svc.api, load.tasks[i % len(load.tasks)]) for i in range(followers)]
        for reader in readers:
            reader.start()
        _progress(load, 1000)
        for round_ in range(kills):
            if graceful:
                took = svc.stop("serve")  # an API restart: SIGTERM, drain, start again
                print(f"serve stopped {took:.1f}s after SIGTERM", flush=True)
                stops.append(took)
            else:
                svc.kill("serve")  # receivers, API and writers die mid-batch
                time.sleep(1)
            svc.serve()
            if round_ == 0 and kill_worker:
                svc.kill("live")  # the worker too; serve's consumer takes its PEL over
                svc.worker("live", "--exporter", "live_tail")
            _progress(load, 1000)
        load.finish()

        def missing() -> dict[int, list[int]]:
            return {
                i: _ranges(m)
                for i, r in enumerate(readers)
                if (m := _missing(r, load.acked[r.url.split("/tasks/")[1].split("/")[0]]))
            }

        # SIGTERM to exit: the drain of batches in flight, then seconds (it took 25-100 s
        # while the interpreter's teardown waited on chDB and on store queries).
        assert all(took < 20 for took in stops), stops
        try:
            wait_for(lambda: not missing(), 120, "followers to see every line (or a gap)")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: missing (follower: seq ranges) {missing()}") from None
    finally:
        load.stopping.set()
        for reader in readers:
            reader.finish()
        svc.stop_all()
    total, distinct = count_rows(svc.data)
    assert load.acked_lines >= 1000 * (kills + 1)
    assert distinct == load.acked_lines, (distinct, load.acked_lines)
    # A request in Redis whose answer the kill lost is resent by its producer with a new
    # dedup token: until reads deduplicate by (task run, seq) the store may hold it twice.
    assert total - distinct <= load.resent * load.per_request + kills * 8 * load.per_request
    for reader in readers:
        repeated = [s for s, n in reader.seqs.items() if n > 1]
        assert not repeated, f"follower saw lines twice: {repeated[:10]}"
    assert sum(r.reconnects for r in readers) >= kills * len(readers)
    assert Counter(load.refusals)  # the kills were noticed by the producer
    return readers


def test_serve_and_worker_sigkilled_under_load(tmp_path: Path, target: RedisTarget) -> None:
    """The worker's pending live-tail entries are claimed by serve's consumer after
    newer ones were published: followers must still get those lines (in seq order) or
    a ``gap``, never lose them in silence."""
    _run(tmp_path, target, kills=2, followers=4)


def test_fifty_followers_across_an_api_restart(tmp_path: Path, target: RedisTarget) -> None:
    """50 followers across a restart of the API (`tasklogs serve`, SIGTERM then start):
    each resumes with ``Last-Event-ID`` and gets every line exactly once, no gap."""
    readers = _run(tmp_path, target, kills=1, followers=50, graceful=True, kill_worker=False)
    assert not [g for r in readers for g in r.gaps], [r.gaps for r in readers if r.gaps][:3]


@pytest.mark.slow
def test_serve_sigkilled_six_times_under_fifty_followers(
    tmp_path: Path, target: RedisTarget
) -> None:
    _run(tmp_path, target, kills=6, followers=50)
