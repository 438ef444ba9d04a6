"""The garbage collector of a long-running service: no full pass over the start-up heap.

A ``tasklogs serve`` (or ``worker``) process holds a large heap once started (grpc,
pydantic models, chDB / clickhouse-connect, the web app): about a million objects
that live as long as the process. CPython's default thresholds (700, 10, 10) run a
full collection every few hundred thousand net allocations, and each one walks that
whole heap: a 100-160 ms pause of the event loop, which every live-tail line that
arrives meanwhile waits out (the periodic stall of the live tail's p99).

:func:`settle_heap`, called once where start-up ends, collects once, moves every
surviving object to the permanent generation (:func:`gc.freeze`: never scanned again,
still freed by reference counting). The young generation keeps CPython's threshold:
raising it (5,000 was tried) let the cyclic garbage of refused requests (a ~200 KB
payload held by an exception's traceback) pile up, and a flood of refused Exports grew
the process by ~85 MB (tests/e2e/test_durability.py's flat-memory test).
Cyclic garbage that includes a frozen object is not collected: start-up objects are
the service's own long-lived state, so that costs nothing in practice.

``TASKLOGS_GC_TUNE=0`` leaves the collector as CPython sets it (to measure the
difference: ``python -m bench.live_latency --gc-compare``).
"""

from __future__ import annotations

import gc
import logging
import os

__all__ = ["GEN0_THRESHOLD", "settle_heap"]

_log = logging.getLogger(__name__)

#: Net allocations between young collections: CPython's own 700 (see above for why not
#: more; bench/gc_pause.py --gen0 compares values).
GEN0_THRESHOLD = 700


def settle_heap() -> bool:
    """Freeze the start-up heap and set the young threshold; ``False`` when disabled
    (``TASKLOGS_GC_TUNE=0``). Safe to call more than once (each call freezes what
    survived since)."""
    if os.environ.get("TASKLOGS_GC_TUNE", "1") == "0":
        return False
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
    _log.debug("gc: %d start-up objects frozen", gc.get_freeze_count())
    return True
