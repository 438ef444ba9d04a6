"""glibc malloc tuning of the service processes: capped arenas, free pages trimmed."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from collector_service import malloc_tune
from tests.support import REPO

_GLIBC = sys.platform == "linux" and os.confstr("CS_GNU_LIBC_VERSION") is not None


@pytest.mark.skipif(not _GLIBC, reason="glibc only")
def test_arenas_are_capped_and_trim_runs() -> None:
    assert malloc_tune.tune_malloc() is True
    assert isinstance(malloc_tune.trim(), bool)


def _run(code: str, **env: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={**os.environ, **env},
        timeout=60,
    ).stdout.strip()


def test_disabled_by_the_environment() -> None:
    code = "from collector_service import malloc_tune as m;print(m.tune_malloc(), m.trim())"
    assert _run(code, TASKLOGS_MALLOC_TUNE="0") == "False False"


@pytest.mark.skipif(not _GLIBC, reason="glibc only")
async def test_trim_forever_trims_until_cancelled() -> None:
    task = asyncio.create_task(malloc_tune.trim_forever(0.01))
    await asyncio.sleep(0.1)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_trim_interval_zero_does_nothing() -> None:
    await asyncio.wait_for(malloc_tune.trim_forever(0), 1)
