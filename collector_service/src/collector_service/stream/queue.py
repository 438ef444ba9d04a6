"""The durable hand-off: Export requests into Redis Streams (seed 004, design "Flow").

A receiver adds one stream entry per Export request: the raw binary protobuf, the tenant,
the record count and the arrival time; no per-record work. It answers only after Redis
has the entry. One Lua script checks the backlog and adds in one round trip, atomically:
past ``redis.ingest.max_backlog_entries`` entries not yet acknowledged by the slowest
exporter the request is refused (:class:`BackpressureError`), and when Redis cannot be
reached it is refused with :class:`UnavailableError`, so senders retry either way.

Keys carry a hash tag, ``{<key_prefix>:ingest:<shard>}``, so a stream, its consumer
groups and the heartbeat keys of its consumers sit on one Redis Cluster slot; requests are
spread round-robin over ``redis.ingest.shards`` streams. Every exporter reads each stream
through a consumer group named after its component id (see
:mod:`collector_service.stream.consumer`). Streams are trimmed (``XTRIM MINID``) only below the
oldest entry some group has not acknowledged, so the stream length is the backlog.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError
from redis.retry import Retry

from collector_service.errors import BackpressureError, UnavailableError
from collector_service.pipeline.entry import IngestEntry
from collector_service.stream.config import RedisConfig

__all__ = [
    "GroupState",
    "IngestKeys",
    "RedisIngest",
    "connect",
    "ensure_groups",
    "group_states",
    "trim",
]

_log = logging.getLogger(__name__)

# KEYS[1] stream; ARGV: bound, payload, records, received_ns[, tenant].
# Returns the new entry id, or the backlog (an integer) when the stream is full.
_SUBMIT = """
local backlog = redis.call('XLEN', KEYS[1])
if backlog >= tonumber(ARGV[1]) then return backlog end
if #ARGV >= 5 then
  return redis.call('XADD', KEYS[1], '*', 'p', ARGV[2], 'n', ARGV[3], 'ts', ARGV[4], 't', ARGV[5])
end
return redis.call('XADD', KEYS[1], '*', 'p', ARGV[2], 'n', ARGV[3], 'ts', ARGV[4])
"""

Client = Any  # redis.asyncio.Redis or RedisCluster: the stream commands are the same


@dataclass(frozen=True, slots=True)
class IngestKeys:
    """Key names of one deployment (``key_prefix``); every key of a shard shares its tag."""

    prefix: str
    shards: int

    def stream(self, shard: int) -> str:
        return f"{{{self.prefix}:ingest:{shard}}}"

    def all_streams(self) -> list[str]:
        return [self.stream(i) for i in range(self.shards)]

    def heartbeat(self, stream: str, group: str, consumer: str) -> str:
        return f"{stream}:alive:{group}:{consumer}"

    def takeover(self, stream: str, group: str, consumer: str) -> str:
        return f"{stream}:takeover:{group}:{consumer}"


def connect(config: RedisConfig, *, read_timeout: float = 5.0) -> Client:
    """An asyncio client for a single Redis or a Cluster; fails fast, callers retry."""
    options: dict[str, Any] = {
        "socket_timeout": read_timeout,
        "socket_connect_timeout": 2.0,
        "retry": Retry(NoBackoff(), 0),
    }
    if config.cluster:
        return RedisCluster.from_url(config.url, **options)
    return aioredis.Redis.from_url(config.url, **options)


async def ensure_groups(client: Client, keys: IngestKeys, groups: list[str]) -> None:
    """Create every exporter's consumer group on every stream (from the start, ``0``).

    Receivers create them too before accepting anything, so no entry can be trimmed
    before each exporter's group has seen it.
    """
    for stream in keys.all_streams():
        for group in groups:
            try:
                await client.xgroup_create(stream, group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise


@dataclass(frozen=True, slots=True)
class GroupState:
    name: str
    #: Entries delivered to a consumer and not yet acknowledged.
    pending: int
    #: Entries not yet delivered to the group (``None`` when Redis cannot tell).
    lag: int | None
    last_delivered: str


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def group_states(client: Client, stream: str) -> list[GroupState]:
    rows = await client.xinfo_groups(stream)
    return [
        GroupState(
            name=_text(row["name"]),
            pending=int(row["pending"]),
            lag=None if row.get("lag") is None else int(row["lag"]),
            last_delivered=_text(row["last-delivered-id"]),
        )
        for row in rows
    ]


def _next_id(entry_id: str) -> str:
    ms, _, seq = entry_id.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


async def trim(client: Client, stream: str) -> int:
    """Drop entries every group has acknowledged; returns how many were removed."""
    lowest: str | None = None
    for group in await group_states(client, stream):
        if group.pending:
            summary = await client.xpending(stream, group.name)
            oldest = _text(summary["min"])
        else:
            oldest = _next_id(group.last_delivered)
        if lowest is None or _id_key(oldest) < _id_key(lowest):
            lowest = oldest
    if lowest is None:  # no group at all: nobody has read anything, keep everything
        return 0
    return int(await client.xtrim(stream, minid=lowest))


class RedisIngest:
    """``Pipeline``'s durable back end: XADD each Export request, bounded, then ack."""

    def __init__(self, config: RedisConfig, groups: list[str]) -> None:
        self.config = config
        self.keys = IngestKeys(config.key_prefix, config.ingest.shards)
        self.groups = groups
        self.client: Client | None = None
        self._script: Any = None
        self._groups_ready = False
        self._next_shard = 0
        #: Why the last Redis call failed, until one succeeds again (readiness).
        self.unavailable: str | None = None

    async def start(self) -> None:
        """Connect and create the consumer groups. Redis being down is not fatal here:
        receivers answer ``UNAVAILABLE`` until it is back."""
        self.client = connect(self.config)
        self._script = self.client.register_script(_SUBMIT)
        try:
            await self._ensure_groups()
        except UnavailableError as exc:
            _log.error("%s; refusing Exports until it is reachable", exc)
        _log.info(
            "durable ingest: %d Redis stream(s) %s..., backlog bound %d entries per stream",
            self.keys.shards,
            self.keys.stream(0),
            self.config.ingest.max_backlog_entries,
        )

    async def _ensure_groups(self) -> None:
        assert self.client is not None
        try:
            await ensure_groups(self.client, self.keys, self.groups)
        except RedisError as exc:
            self.unavailable = f"Redis at {_redact(self.config.url)} is unavailable: {exc}"
            raise UnavailableError(
                f"Redis at {_redact(self.config.url)} is unavailable: {exc}", retry_after=1.0
            ) from exc
        self._groups_ready = True
        self.unavailable = None

    async def submit(self, entry: IngestEntry) -> None:
        if self._script is None:
            raise UnavailableError("the durable ingest is not started", retry_after=1.0)
        if not self._groups_ready:  # never add an entry some exporter's group could miss
            await self._ensure_groups()
        stream = self.keys.stream(self._next_shard)
        self._next_shard = (self._next_shard + 1) % self.keys.shards
        args: list[bytes | int | str] = [
            self.config.ingest.max_backlog_entries,
            entry.raw(),
            entry.records,
            entry.received_ns,
        ]
        if entry.tenant is not None:
            args.append(entry.tenant)
        try:
            result = await self._script(keys=[stream], args=args)
        except RedisError as exc:
            self.unavailable = f"durable queue unavailable: {exc}"
            raise UnavailableError(self.unavailable, retry_after=1.0) from exc
        self.unavailable = None
        if isinstance(result, int):
            raise BackpressureError(
                f"ingest stream {stream} is full ({result} entries not yet written by every "
                f"exporter; bound {self.config.ingest.max_backlog_entries})",
                retry_after=1.0,
            )

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}"
