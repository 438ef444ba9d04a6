"""A per-thread flag: "this thread is emitting a log record right now".

Emission paths (captured lines, lifecycle records, the logging handler, the sequence
processor) set it; the tee streams check it and only write through while it is set, so
whatever the SDK prints or logs while handling a record is never captured again (no
recursion, no self-deadlock on the sequence lock).
"""

from __future__ import annotations

import threading

_local = threading.local()


def active() -> bool:
    """True while the current thread is inside an emission."""
    return getattr(_local, "depth", 0) > 0


def enter() -> None:
    _local.depth = getattr(_local, "depth", 0) + 1


def leave() -> None:
    _local.depth = getattr(_local, "depth", 1) - 1
