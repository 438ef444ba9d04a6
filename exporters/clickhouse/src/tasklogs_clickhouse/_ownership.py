"""One process owns one chDB directory: a lock file beside it names the owner's pid.

chDB runs one engine per process, and two processes writing one directory would corrupt
it. Within the owning process any number of exporters may share the directory (the
engine is shared too), so the lock is taken once per process and reference-counted.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path
from typing import IO

from collector_service.errors import StoreBusyError

__all__ = ["acquire", "release"]

_guard = threading.Lock()
_held: dict[Path, tuple[IO[str], int]] = {}


def acquire(path: Path) -> None:
    """Own ``path`` for this process, or raise :class:`StoreBusyError` naming the owner."""
    path = path.resolve()
    with _guard:
        if path in _held:
            handle, count = _held[path]
            _held[path] = (handle, count + 1)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.with_name(path.name + ".lock").open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            raise StoreBusyError(
                f"chDB directory {path} is owned by another process (pid {owner}); "
                "read it through that process's API (e.g. `tasklogs logs --api URL`) "
                "or stop it first"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        _held[path] = (handle, 1)


def release(path: Path) -> None:
    """Drop one reference; the lock is released with the last one."""
    path = path.resolve()
    with _guard:
        if path not in _held:
            return
        handle, count = _held[path]
        if count > 1:
            _held[path] = (handle, count - 1)
            return
        del _held[path]
        handle.close()
