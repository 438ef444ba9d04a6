"""glibc's malloc in a long-running service: a few arenas, not one per thread.

A ``tasklogs serve`` process runs ~130 threads (gRPC's, chDB's, asyncio's executor that
runs the inserts and the Redis reads). Python's small objects live in its own pools, but
every larger block (a ~100 KB Export payload, a decoded batch's column lists, the Native
insert's buffers) comes from glibc's malloc, which gives each thread that contends for a
lock an arena of its own, up to 8 per core. Blocks allocated in one thread and freed in
another, of sizes that vary with every request, fragment those arenas, and each keeps its
freed memory for later: in bench/soak.py's fault-free run serve's glibc heap settled at
60-85 MiB in use in 130-155 MiB of arenas (bench/README.md, "Memory of a long-lived
serve").

:func:`tune_malloc`, called first thing in ``tasklogs`` (before any thread starts), caps
the arenas (``mallopt(M_ARENA_MAX)``, as the ``MALLOC_ARENA_MAX`` environment variable
does); :func:`trim` hands the free pages of every arena back to the OS
(``malloc_trim(0)``), which the service calls every ``TRIM_EVERY_S`` seconds. The chDB
engine allocates with its own jemalloc and is bounded by ``exporters.clickhouse.engine``.

A trim holds each arena's lock while it walks it: ~1 ms on a settled heap, 40 ms for the
first trim of ~300 MB of fragmented blocks (measured on the shared 2-core machine), so
at most once per ``TRIM_EVERY_S`` an allocation in the event loop may wait that long.

``TASKLOGS_MALLOC_ARENAS=N`` sets the cap (default 2; 0 leaves glibc's default),
``TASKLOGS_MALLOC_TRIM_S=S`` the trim interval (0: no trim), and ``TASKLOGS_MALLOC_TUNE=0``
leaves malloc as glibc sets it. Other C libraries (musl): nothing to do.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
from functools import cache

__all__ = ["DEFAULT_ARENAS", "TRIM_EVERY_S", "trim", "trim_forever", "tune_malloc"]

_log = logging.getLogger(__name__)

#: Arenas of glibc's malloc (``M_ARENA_MAX``): 2 measured no worse than glibc's default in
#: bench/soak.py (serve's mean RSS 713 vs 720 MiB; its own run-to-run noise is larger).
DEFAULT_ARENAS = 2
#: How often the service gives the free pages of malloc's arenas back (seconds).
TRIM_EVERY_S = 30.0
_M_ARENA_MAX = -8  # glibc's malloc.h


@cache
def _glibc() -> ctypes.CDLL | None:
    if os.environ.get("TASKLOGS_MALLOC_TUNE", "1") == "0":
        return None
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        libc.gnu_get_libc_version  # noqa: B018 - glibc only (musl has no mallopt arenas)
    except (OSError, AttributeError, TypeError):
        return None
    return libc


def tune_malloc() -> bool:
    """Cap glibc's arenas; ``False`` when not glibc or disabled. Call before threads start."""
    libc = _glibc()
    if libc is None:
        return False
    arenas = int(os.environ.get("TASKLOGS_MALLOC_ARENAS", DEFAULT_ARENAS))
    if arenas > 0 and not libc.mallopt(_M_ARENA_MAX, arenas):
        _log.warning("mallopt(M_ARENA_MAX, %d) failed", arenas)
        return False
    return True


def trim() -> bool:
    """Give free pages of every arena back to the OS; whether any memory was released."""
    libc = _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


async def trim_forever(every_s: float | None = None) -> None:
    """:func:`trim` every ``every_s`` seconds (default ``TASKLOGS_MALLOC_TRIM_S`` or
    :data:`TRIM_EVERY_S`; in a thread: it walks every arena) until cancelled; nothing at
    all where :func:`trim` cannot work or the interval is 0."""
    if every_s is None:
        every_s = float(os.environ.get("TASKLOGS_MALLOC_TRIM_S", TRIM_EVERY_S))
    if _glibc() is None or every_s <= 0:
        return
    while True:
        await asyncio.sleep(every_s)
        await asyncio.to_thread(trim)
