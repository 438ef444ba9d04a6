"""Redis for tests: the shared server (unique key prefixes) and a throwaway 3-master Cluster.

Import the fixtures into a test module (``from tests.redis_support import redis_target``).
The Cluster runs ``redis-server`` processes on free loopback ports for the session and
is torn down at its end; tests on the shared server delete their own keys only.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster

from collector_service.stream.config import IngestConfig, RedisConfig
from collector_service.stream.queue import backlog_of, connect
from tests.support import free_port

SHARED_URL = "redis://127.0.0.1:6379/0"


@dataclass
class RedisTarget:
    """Where a test's keys live: ``url``, ``cluster``, and a fresh ``key_prefix``."""

    url: str
    cluster: bool
    key_prefix: str

    def config(self, **ingest: object) -> RedisConfig:
        return RedisConfig(
            url=self.url,
            cluster=self.cluster,
            key_prefix=self.key_prefix,
            ingest=IngestConfig.model_validate(ingest),
        )

    def client(self) -> redis.Redis | RedisCluster:
        if self.cluster:
            return RedisCluster.from_url(self.url)
        return redis.Redis.from_url(self.url)

    def backlog(self, stream: str, group: str) -> int | None:
        """What ``group`` has not acknowledged on ``stream``, read as the service reads it
        (:func:`~collector_service.stream.queue.group_backlog`); None: no such group."""

        async def read() -> int | None:
            client = connect(self.config())
            try:
                return await backlog_of(client, stream, group)
            finally:
                await client.aclose()

        return asyncio.run(read())

    def yaml(self, **ingest: object) -> str:
        """The ``redis:`` section of a service config."""
        extra = "".join(f"\n    {k}: {v}" for k, v in ingest.items())
        return (
            f"redis:\n  url: {self.url}\n  cluster: {str(self.cluster).lower()}\n"
            f"  key_prefix: {self.key_prefix}\n  ingest:\n    block_ms: 200{extra}\n"
        )


class PrivateRedis:
    """A redis-server of a test's own on its own port, to kill and restart: AOF with
    ``appendfsync`` ``fsync`` (``everysec`` as deployed; ``always`` loses nothing)."""

    def __init__(self, root: Path, fsync: str = "everysec") -> None:
        self.root = root
        self.fsync = fsync
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--dir", str(self.root), "--appendonly", "yes", "--appendfsync", self.fsync]
        args += ["--save", ""]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                with redis.Redis(port=self.port) as client:
                    if client.ping():
                        return
            except redis.RedisError:
                assert time.monotonic() < deadline, "private redis-server did not start"
                time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
            self.proc = None


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _cluster_port() -> int:
    """A free port below 55536 whose cluster bus port (+10000) is free too."""
    while True:
        port = random.randint(20000, 45000)  # noqa: S311 - not cryptographic
        if _is_free(port) and _is_free(port + 10000):
            return port


def _ask(port: int, command: Callable[[redis.Redis], Any]) -> Any:
    with redis.Redis(port=port) as client:
        return command(client)


class _Cluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.ports = [_cluster_port() for _ in range(3)]
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        server = shutil.which("redis-server")
        cli = shutil.which("redis-cli")
        if server is None or cli is None:
            pytest.fail("redis-server and redis-cli are needed for the Redis Cluster tests")
        for port in self.ports:
            node = self.root / str(port)
            node.mkdir()
            args = [
                server,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                str(node / "nodes.conf"),
                "--dir",
                str(node),
                "--save",
                "",
                "--appendonly",
                "no",
            ]
            with (node / "redis.log").open("wb") as log:
                self.procs.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT))
        for port in self.ports:
            self._wait(lambda p=port: _ask(p, lambda c: c.ping()))
        subprocess.run(
            [
                cli,
                "--cluster",
                "create",
                *[f"127.0.0.1:{p}" for p in self.ports],
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )

        def ready() -> bool:
            return all(
                _ask(p, lambda c: c.cluster("info"))["cluster_state"] == "ok" for p in self.ports
            )

        self._wait(ready)

    @staticmethod
    def _wait(check: object, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if check():  # type: ignore[operator]
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the Redis Cluster did not come up (see redis.log in its tmp dir)")
            time.sleep(0.1)

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    cluster = _Cluster(tmp_path_factory.mktemp("redis-cluster"))
    try:
        cluster.start()
        yield f"redis://127.0.0.1:{cluster.ports[0]}/0"
    finally:
        cluster.stop()


def _cleanup(target: RedisTarget) -> None:
    if target.cluster:
        return  # the throwaway cluster goes away with the session
    client = target.client()
    try:
        keys = list(client.scan_iter(match=f"{{{target.key_prefix}:*", count=1000))
        for key in keys:
            client.delete(key)
    finally:
        client.close()


@pytest.fixture(params=["standalone", "cluster"])
def redis_target(request: pytest.FixtureRequest) -> Iterator[RedisTarget]:
    """Each test runs on the shared Redis and on a 3-master Redis Cluster."""
    if request.param == "cluster":
        url = request.getfixturevalue("redis_cluster_url")
        target = RedisTarget(url, True, f"t{uuid.uuid4().hex[:10]}")
    else:
        client = redis.Redis.from_url(SHARED_URL)
        try:
            client.ping()
        except redis.RedisError as exc:
            pytest.fail(f"Redis at {SHARED_URL} is needed: {exc}")
        finally:
            client.close()
        target = RedisTarget(SHARED_URL, False, f"t{uuid.uuid4().hex[:10]}")
    yield target
    _cleanup(target)
