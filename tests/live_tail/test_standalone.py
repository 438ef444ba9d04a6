"""`python -m live_tail` on its own: live lines from Redis, history from the store,
and SIGTERM with open streams tells clients to reconnect and exits."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from live_tail.model import chunks_from_batch
from live_tail.redis_bus import RedisBus
from tests.live_tail.conftest import REDIS_URL, _drop_keys
from tests.live_tail.support import make_batch, open_stream
from tests.support import free_port


async def test_standalone_api_follows_the_redis_bus(tmp_path: Path) -> None:
    prefix = f"tltest-{uuid.uuid4().hex[:12]}"
    port = free_port()
    config = tmp_path / "c.yaml"
    config.write_text(
        f'data_dir: "{tmp_path}"\n'
        f'redis: {{url: "{REDIS_URL}", key_prefix: "{prefix}"}}\n'
        f'api: {{endpoint: "127.0.0.1:{port}"}}\n',
        encoding="utf-8",
    )
    proc = subprocess.Popen(  # noqa: ASYNC220 - the process under test
        [sys.executable, "-m", "live_tail", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    publisher = RedisBus(REDIS_URL, key_prefix=prefix)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                async with httpx.AsyncClient(timeout=1) as probe:
                    if (await probe.get(f"{url}/healthz")).status_code == 200:
                        break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "python -m live_tail did not start"
            await asyncio.sleep(0.1)
        async with (
            httpx.AsyncClient(base_url=url, timeout=30) as client,
            open_stream(client, "/api/v1/tasks/tr-solo/logs/stream") as r,
        ):
            publisher.publish(chunks_from_batch(make_batch("tr-solo", range(1, 6))))
            await r.wait(lambda r: len(r.logs()) >= 5)
            assert r.seqs() == [1, 2, 3, 4, 5]
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            await r.wait(lambda r: r.closed, timeout=15)
            assert r.retry == 1000
        assert await asyncio.to_thread(proc.wait, 60) == 0
        # Stock uvicorn would wait for the open stream forever; the bound is generous
        # because closing the embedded store is slow on a loaded machine.
        assert time.monotonic() - started < 45
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
        publisher.close_sync()
        _drop_keys(prefix)
