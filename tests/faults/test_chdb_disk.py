"""The chDB directory full, then read-only, under a steady load: nothing acknowledged is
lost or dead-lettered, /readyz says why while it fails, receivers refuse (retryable).

The directory is a 48 MiB tmpfs (mounted by the test: it runs as root) filled with a
file while the load runs; "read-only" is ``chmod -R a-w`` on the chDB directory, with
`tasklogs serve` run by ``capsh`` without CAP_DAC_OVERRIDE so that root obeys it (a
remount read-only is refused while chDB holds files open for writing).
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from collector_service.pipeline.deadletter import dead_letter_path
from tests.e2e.durability_support import count_rows
from tests.faults.support import Load, Service, tmpfs, wait_for
from tests.redis_support import SHARED_URL, RedisTarget

pytestmark = pytest.mark.e2e


@pytest.fixture
def target() -> Iterator[RedisTarget]:
    t = RedisTarget(SHARED_URL, False, f"faults-{uuid.uuid4().hex[:8]}")
    yield t
    client = redis.Redis.from_url(SHARED_URL)
    for key in client.scan_iter(f"*{t.key_prefix}*"):
        client.delete(key)
    client.close()


def _fill(path: Path) -> None:
    subprocess.run(["dd", "if=/dev/zero", f"of={path}", "bs=1M"], capture_output=True, check=False)


def _wait_not_ready(svc: Service, words: tuple[str, ...]) -> list[str]:
    seen: list[str] = []

    def failing() -> bool:
        code, body = svc.readyz()
        if code == 503:
            seen[:] = body.get("reasons", [])
            return any(w in r for r in seen for w in words)
        return False

    wait_for(failing, 60, f"/readyz 503 with one of {words}")
    return seen


def _wait_ready(svc: Service) -> None:
    wait_for(lambda: svc.readyz()[0] == 200, 90, f"ready again:\n{svc.log('serve')[-3000:]}")


def test_full_disk_and_read_only_directory_lose_nothing(
    tmp_path: Path, target: RedisTarget
) -> None:
    with tmpfs(tmp_path / "fs", 48) as fs:
        svc = Service(
            tmp_path,
            "  clickhouse:\n    batch: {send_batch_max_size: 5000, timeout_ms: 100}\n"
            "    retry_on_failure: {initial_interval_ms: 100, max_interval_ms: 1000,"
            " max_elapsed_time_s: 2}\n",
            "clickhouse",
            redis=target,
            data_dir=fs / "data",
            no_dac=True,
        )
        svc.write()
        load = Load(svc.endpoint, tasks=4, per_request=100, rate=2000)
        try:
            svc.serve()
            load.start()
            time.sleep(4)

            _fill(fs / "filler")  # the disk is full while the load runs
            full = _wait_not_ready(svc, ("space", "disk full", "NOT_ENOUGH_SPACE"))
            refused_before = sum(load.refusals.values())
            time.sleep(8)
            assert sum(load.refusals.values()) > refused_before  # receivers refuse meanwhile
            (fs / "filler").unlink()
            _wait_ready(svc)
            time.sleep(3)

            store = svc.data / "chdb"
            subprocess.run(["chmod", "-R", "a-w", str(store)], check=True)
            read_only = _wait_not_ready(svc, ("not writable", "Permission denied", "permission"))
            time.sleep(8)
            subprocess.run(["chmod", "-R", "u+w", str(store)], check=True)
            _wait_ready(svc)
            time.sleep(3)
            load.finish()
            stream = f"{{{target.key_prefix}:ingest:0}}"
            wait_for(lambda: target.backlog(stream, "clickhouse") == 0, 120, "the backlog to drain")
        finally:
            load.stopping.set()
            svc.stop_all()
        serve_log = svc.log("serve")
        total, distinct = count_rows(svc.data)
        dead = dead_letter_path(svc.data, "clickhouse")
        assert not dead.exists() or dead.read_text() == "", dead.read_text()[:500]
    assert "dead-letter" not in serve_log.lower()
    assert full, read_only
    assert load.acked_lines > 2_000
    assert distinct == load.acked_lines, (distinct, load.acked_lines, serve_log[-3000:])
    assert total == distinct  # exactly once
