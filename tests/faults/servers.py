"""Servers of a test's own, to kill and restart: redis-server (AOF, from
:mod:`tests.redis_support`) and a PostgreSQL cluster (initdb/pg_ctl as the ``postgres``
user: PostgreSQL refuses to run as root)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest

from tests.redis_support import PrivateRedis
from tests.support import free_port

__all__ = ["PrivatePostgres", "PrivateRedis"]


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        pytest.fail(f"PostgreSQL's {name} is not installed (/usr/lib/postgresql/*/bin)")
    return found[-1]


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on its own port, trust auth, database ``test``."""

    def __init__(self) -> None:
        self.port = free_port()
        # Outside pytest's tmp dirs (mode 700, root's): the postgres user must reach it.
        self.root = Path(tempfile.mkdtemp(prefix="tasklogs-pg-"))
        self.data = self.root / "data"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/test"

    def _as_postgres(self, *args: str, timeout: float = 120) -> None:
        cmd = [*args] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            pytest.fail(f"{' '.join(args)} failed: {proc.stdout}{proc.stderr}")

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._as_postgres(
            _pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"
        )
        self.start()
        with psycopg.connect(self.dsn.replace("/test", "/postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE test")

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            _pg_bin("pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.root / "pg.log"),
            "-w", "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._as_postgres(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", _pg_bin("pg_ctl"), "-D", str(self.data),
             "-m", "immediate", "stop"],
            capture_output=True, check=False,
        )  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)
