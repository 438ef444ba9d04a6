"""Dead letters: batches an exporter could not write, kept as raw OTLP requests.

A batch that fails permanently (or runs out of retries) is never retried forever and
never silently dropped: its requests go here, with the reason, and ``tasklogs deadletter``
lists them. With Redis configured they go to one stream per exporter
(``{<key_prefix>:deadletter:<exporter>}``, capped at ``redis.ingest.dead_letter_maxlen``);
in the embedded default to ``<data_dir>/deadletter/<exporter>.jsonl``. Each record keeps
the binary ``ExportLogsServiceRequest``, so ``tasklogs deadletter replay``
(:mod:`collector_service.pipeline.replay`) can write it again and then remove it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import json
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collector_service.service.config import Config

__all__ = [
    "DeadLetter",
    "DeadLetterRecord",
    "DeadLetters",
    "FileDeadLetter",
    "RedisDeadLetter",
    "dead_letter_key",
    "dead_letter_path",
    "list_dead_letters",
    "open_dead_letters",
]

#: ``(payload, tenant, records)`` of one raw request.
Payload = tuple[bytes, str | None, int]


@dataclass(frozen=True, slots=True)
class DeadLetterRecord:
    """One dead-lettered Export request."""

    id: str
    exporter: str
    at_ns: int
    reason: str
    records: int
    tenant: str | None
    payload: bytes


class DeadLetter(Protocol):
    """Where an exporter's unwritable batches go."""

    async def put(self, exporter: str, payloads: Sequence[Payload], reason: str) -> None: ...


def dead_letter_key(key_prefix: str, exporter: str) -> str:
    """The Redis stream of one exporter's dead letters (its own hash tag)."""
    return f"{{{key_prefix}:deadletter:{exporter}}}"


def dead_letter_path(data_dir: Path, exporter: str) -> Path:
    """The JSON-lines file of one exporter's dead letters in the embedded default."""
    return data_dir / "deadletter" / (re.sub(r"[^A-Za-z0-9_.-]", "_", exporter) + ".jsonl")


class FileDeadLetter:
    """Appends dead letters to a JSON-lines file per exporter under ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def _append(self, exporter: str, payloads: Sequence[Payload], reason: str) -> None:
        path = dead_letter_path(self.data_dir, exporter)
        path.parent.mkdir(parents=True, exist_ok=True)
        now = time.time_ns()
        with path.open("a", encoding="utf-8") as out:
            fcntl.flock(out, fcntl.LOCK_EX)  # a replay may be rewriting the file
            for payload, tenant, records in payloads:
                line = {
                    "at_ns": now,
                    "exporter": exporter,
                    "reason": reason,
                    "records": records,
                    "tenant": tenant,
                    "payload_b64": base64.b64encode(payload).decode("ascii"),
                }
                out.write(json.dumps(line, separators=(",", ":")) + "\n")

    async def put(self, exporter: str, payloads: Sequence[Payload], reason: str) -> None:
        await asyncio.to_thread(self._append, exporter, payloads, reason)

    def list(self, exporter: str, limit: int | None = 100) -> list[DeadLetterRecord]:
        """The newest ``limit`` dead letters of ``exporter`` (``None``: all), oldest first."""
        path = dead_letter_path(self.data_dir, exporter)
        if not path.exists():
            return []
        lines = path.read_text(encoding="utf-8").splitlines()
        skip = 0 if limit is None else len(lines) - limit
        return [
            _file_record(path.name, number, line)
            for number, line in enumerate(lines, start=1)
            if number > skip and line.strip()
        ]

    def remove(self, exporter: str, ids: Sequence[str]) -> None:
        """Remove the dead letters ``ids`` (from :meth:`list`), in place under the lock
        appenders take, so nothing added meanwhile is lost. Line numbers of the rest
        change: list again before removing more."""
        path = dead_letter_path(self.data_dir, exporter)
        gone = {int(i.rpartition(":")[2]) for i in ids}
        with contextlib.suppress(FileNotFoundError), path.open("r+", encoding="utf-8") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            lines = f.read().splitlines(keepends=True)
            f.seek(0)
            f.writelines(line for n, line in enumerate(lines, start=1) if n not in gone)
            f.truncate()


def _file_record(name: str, number: int, line: str) -> DeadLetterRecord:
    raw: dict[str, Any] = json.loads(line)
    return DeadLetterRecord(
        id=f"{name}:{number}",
        exporter=raw["exporter"],
        at_ns=raw["at_ns"],
        reason=raw["reason"],
        records=raw["records"],
        tenant=raw["tenant"],
        payload=base64.b64decode(raw["payload_b64"]),
    )


class RedisDeadLetter:
    """Adds dead letters to a capped Redis stream per exporter."""

    def __init__(self, client: Any, key_prefix: str, maxlen: int) -> None:
        self._client = client
        self._prefix = key_prefix
        self._maxlen = maxlen

    async def put(self, exporter: str, payloads: Sequence[Payload], reason: str) -> None:
        key = dead_letter_key(self._prefix, exporter)
        now = str(time.time_ns())
        pipe = self._client.pipeline(transaction=False)
        for payload, tenant, records in payloads:
            fields = {"p": payload, "n": records, "at": now, "reason": reason[:2000]}
            if tenant is not None:
                fields["t"] = tenant
            pipe.xadd(key, fields, maxlen=self._maxlen, approximate=True)
        await pipe.execute()

    @staticmethod
    def list_sync(
        client: Any, key_prefix: str, exporter: str, limit: int | None = 100
    ) -> list[DeadLetterRecord]:
        """The newest ``limit`` dead letters of ``exporter`` (``None``: all; a sync redis
        client), oldest first."""
        rows = client.xrevrange(dead_letter_key(key_prefix, exporter), count=limit)
        out = []
        for entry_id, fields in reversed(rows):
            tenant = fields.get(b"t")
            out.append(
                DeadLetterRecord(
                    id=entry_id.decode(),
                    exporter=exporter,
                    at_ns=int(fields[b"at"]),
                    reason=fields[b"reason"].decode(errors="replace"),
                    records=int(fields[b"n"]),
                    tenant=tenant.decode() if tenant is not None else None,
                    payload=fields[b"p"],
                )
            )
        return out


class DeadLetters:
    """Where ``config`` keeps dead letters, for tools: list and remove (sync)."""

    def __init__(self, config: Config, client: Any = None) -> None:
        self._config = config
        self._client = client
        self._files = FileDeadLetter(config.data_dir)

    def list(self, exporter: str, limit: int | None) -> list[DeadLetterRecord]:
        if self._config.redis is None:
            return self._files.list(exporter, limit)
        return RedisDeadLetter.list_sync(
            self._client, self._config.redis.key_prefix, exporter, limit
        )

    def remove(self, exporter: str, ids: Sequence[str]) -> None:
        if not ids:
            return
        if self._config.redis is None:
            self._files.remove(exporter, ids)
        else:
            self._client.xdel(dead_letter_key(self._config.redis.key_prefix, exporter), *ids)


@contextlib.contextmanager
def open_dead_letters(config: Config) -> Iterator[DeadLetters]:
    """The dead letters of ``config`` (a Redis connection while it is open, if any)."""
    if config.redis is None:
        yield DeadLetters(config)
        return
    import redis
    from redis.cluster import RedisCluster

    client: Any = (
        RedisCluster.from_url(config.redis.url)
        if config.redis.cluster
        else redis.Redis.from_url(config.redis.url)
    )
    try:
        yield DeadLetters(config, client)
    finally:
        client.close()


def list_dead_letters(config: Config, exporters: list[str], limit: int) -> list[DeadLetterRecord]:
    """Dead letters of ``exporters`` (default: every configured one), where config keeps them."""
    names = exporters or config.pipeline_exporters()
    with open_dead_letters(config) as store:
        return [rec for name in names for rec in store.list(name, limit)]
