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
oldest entry some durable group has not acknowledged, so the stream length is the backlog.
Best-effort groups (the live tail, ``ExporterSpec.best_effort``) are marked in a set next
to the stream: they never count toward the bound, are waited for by the trim only while
the stream is under the bound, and past it lose what they have not read (counted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError
from redis.retry import Retry

from collector_service.errors import BackpressureError, UnavailableError
from collector_service.pipeline.entry import IngestEntry
from collector_service.pipeline.skipped import count_skipped_entries
from collector_service.stream.config import RedisConfig

__all__ = [
    "BACKLOG_EXACT_UPTO",
    "GroupState",
    "IngestKeys",
    "RedisIngest",
    "Trimmed",
    "backlog_of",
    "best_effort_key",
    "connect",
    "ensure_groups",
    "group_backlog",
    "group_states",
    "trim",
]

_log = logging.getLogger(__name__)
_WATCH_EVERY_S = 1.0
#: How long :meth:`RedisIngest.stop` waits for its watch, before and after closing.
_STOP_WAIT_S = 2.0

# The trim (see :func:`trim`), a function both scripts below use: ``trim_stream(stream,
# marks, bound)`` trims below the oldest entry a group still needs. Best-effort groups
# (the ``marks`` set) are waited for only while the stream is shorter than ``bound``;
# past it the stream is cut to the slowest durable group (or to half the bound when
# every group is best effort), and each best-effort group that lost entries has its
# ``entries-read`` set so that its lag counts only what is left. Atomic, so a group's
# pending summary always agrees with its state (read apart, a restart showed a group
# with ``pending > 0`` and no oldest pending id). Returns {removed, group, lost, ...}.
_TRIM_FUNCTION = """
local function parse(id)
  if not id then return nil end
  local ms, seq = string.match(tostring(id), '^(%d+)-?(%d*)$')
  if not ms then return nil end
  return {tonumber(ms), tonumber(seq) or 0}
end
local function less(a, b) return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2]) end
local function fmt(p) return string.format('%.0f-%.0f', p[1], p[2]) end
local function trim_stream(stream, marks, bound)
  if redis.call('EXISTS', stream) == 0 then return {0} end
  local durable, best, lagging = nil, nil, {}
  for _, row in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local f = {}
    for i = 1, #row, 2 do f[row[i]] = row[i + 1] end
    local last = parse(f['last-delivered-id']) or {0, 0}
    local oldest = {last[1], last[2] + 1}
    if (tonumber(f['pending']) or 0) > 0 then
      oldest = parse(redis.call('XPENDING', stream, f['name'])[2]) or oldest
    end
    if redis.call('SISMEMBER', marks, f['name']) == 1 then
      if not best or less(oldest, best) then best = oldest end
      lagging[#lagging + 1] = {f['name'], f['last-delivered-id'], last, tonumber(f['entries-read'])}
    elseif not durable or less(oldest, durable) then
      durable = oldest
    end
  end
  local cut = durable
  local over = false
  if best and (not durable or less(best, durable)) then
    over = bound > 0 and redis.call('XLEN', stream) >= bound
    if not over then cut = best end
  end
  local removed = 0
  if cut then
    removed = redis.call('XTRIM', stream, 'MINID', fmt(cut))
  elseif over then
    removed = redis.call('XTRIM', stream, 'MAXLEN', math.floor(bound / 2))
  end
  local out = {removed}
  if not over or removed == 0 then return out end
  local info = redis.call('XINFO', 'STREAM', stream)
  local s = {}
  for i = 1, #info, 2 do s[info[i]] = info[i + 1] end
  local gone = tonumber(s['entries-added']) - tonumber(s['length'])
  local first = s['first-entry'] and parse(s['first-entry'][1]) or nil
  local newest = parse(s['last-generated-id'])
  for _, g in ipairs(lagging) do
    local behind = (first and less(g[3], first)) or (not first and less(g[3], newest))
    if behind then
      local lost = removed
      if g[4] then lost = gone - g[4] end
      if lost > 0 then
        redis.call('XGROUP', 'SETID', stream, g[1], g[2], 'ENTRIESREAD', gone)
        out[#out + 1] = g[1]
        out[#out + 1] = lost
      end
    end
  end
  return out
end
"""

_TRIM = _TRIM_FUNCTION + "return trim_stream(KEYS[1], KEYS[2], tonumber(ARGV[1]))\n"

# KEYS[1] stream, KEYS[2] its best-effort groups, KEYS[3..] the "failing" keys of the
# durable groups (:meth:`IngestKeys.failing`: set by a writer while its store refuses
# writes); ARGV: bound, payload, records, received_ns[, tenant]. Returns {"!failing",
# reason} while some durable group's store fails (nothing added: backpressure, not a
# dead letter), the new entry id, or the backlog (an integer) when full;
# when it had to trim first, {id, group, lost, ...}. A stream at the bound is trimmed
# here first when it has best-effort groups, so what only they hold never refuses a
# request and the stream never passes the bound for them: the backlog is then what the
# slowest durable group has not acknowledged.
_SUBMIT = (
    _TRIM_FUNCTION
    + """
for i = 3, #KEYS do
  local why = redis.call('GET', KEYS[i])
  if why then return {'!failing', why} end
end
local bound = tonumber(ARGV[1])
local backlog = redis.call('XLEN', KEYS[1])
local trimmed = nil
if backlog >= bound and redis.call('SCARD', KEYS[2]) > 0 then
  trimmed = trim_stream(KEYS[1], KEYS[2], bound)
  backlog = redis.call('XLEN', KEYS[1])
end
if backlog >= bound then return backlog end
local id
if #ARGV >= 5 then
  id = redis.call('XADD', KEYS[1], '*', 'p', ARGV[2], 'n', ARGV[3], 'ts', ARGV[4], 't', ARGV[5])
else
  id = redis.call('XADD', KEYS[1], '*', 'p', ARGV[2], 'n', ARGV[3], 'ts', ARGV[4])
end
if trimmed and #trimmed > 1 then
  trimmed[1] = id
  return trimmed
end
return id
"""
)

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

    def failing(self, stream: str, group: str) -> str:
        """Set (with a short expiry) by ``group``'s writers while its store refuses
        writes: receivers then refuse Exports with the reason (retryable)."""
        return f"{stream}:failing:{group}"


def best_effort_key(stream: str) -> str:
    """The set of ``stream``'s best-effort consumer groups (same hash tag)."""
    return f"{stream}:best-effort"


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


async def ensure_groups(
    client: Client,
    keys: IngestKeys,
    groups: list[str],
    *,
    best_effort: Collection[str] | None = None,
) -> None:
    """Create every exporter's consumer group on every stream (from the start, ``0``).

    Receivers create them too before accepting anything, so no entry can be trimmed
    before each exporter's group has seen it. With ``best_effort`` (the groups of
    ``groups`` whose exporter is best effort), each group is marked best effort or
    durable in the stream's :func:`best_effort_key` set, which the backlog bound and
    :func:`trim` read; ``None`` leaves the marks as they are.
    """
    for stream in keys.all_streams():
        for group in groups:
            try:
                await client.xgroup_create(stream, group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        if best_effort is None:
            continue
        marked = [g for g in groups if g in best_effort]
        durable = [g for g in groups if g not in best_effort]
        if marked:
            await client.sadd(best_effort_key(stream), *marked)
        if durable:
            await client.srem(best_effort_key(stream), *durable)


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


#: Entries after a group's last-delivered id counted exactly (one bounded ``XRANGE`` in
#: the server, nothing sent back but the count); a longer backlog is estimated.
BACKLOG_EXACT_UPTO = 128

# KEYS[1] stream; ARGV: last-delivered id, bound. The number of entries after that id,
# up to the bound (an exclusive XRANGE start: Redis >= 6.2).
_AFTER = """
local r = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', tonumber(ARGV[2]))
return #r
"""


async def group_backlog(client: Client, stream: str, group: GroupState) -> int:
    """Entries the group has not acknowledged: pending plus those after its
    last-delivered id.

    Not the group's ``lag``: Redis leaves it too high after entries were re-read through
    ``XCLAIM`` (a takeover of a dead consumer's PEL; replicas and AOF replay see reads
    as ``XCLAIM`` as well) and ``NULL`` once the stream has a deleted entry, so after a
    takeover it read 128 with nothing left. Exact up to :data:`BACKLOG_EXACT_UPTO` entries
    after the last delivered; past that (a backlog that long) the larger of the bound
    and ``lag`` (or the stream length when Redis cannot tell), no scan of the stream.
    """
    script = client.register_script(_AFTER)
    after = int(await script(keys=[stream], args=[group.last_delivered, BACKLOG_EXACT_UPTO]))
    if after >= BACKLOG_EXACT_UPTO:
        estimate = group.lag if group.lag is not None else int(await client.xlen(stream))
        after = max(after, estimate)
    return group.pending + after


async def backlog_of(client: Client, stream: str, group: str) -> int | None:
    """:func:`group_backlog` of the consumer group named ``group`` (None: no such group)."""
    for state in await group_states(client, stream):
        if state.name == group:
            return await group_backlog(client, stream, state)
    return None


@dataclass(frozen=True, slots=True)
class Trimmed:
    """What one :func:`trim` did."""

    #: Entries removed from the stream.
    removed: int
    #: Entries removed before a lagging best-effort group read them, per group.
    skipped: dict[str, int]


async def trim(client: Client, stream: str, bound: int = 0) -> Trimmed:
    """Drop entries every durable group has acknowledged (one atomic script).

    Best-effort groups (marked by :func:`ensure_groups`) are waited for too while the
    stream is shorter than ``bound``; past it they lose what they have not read, so the
    stream stays bounded and receivers keep accepting (``bound`` 0: always wait). With
    no group at all nothing is trimmed.
    """
    script = client.register_script(_TRIM)
    reply = await script(keys=[stream, best_effort_key(stream)], args=[bound])
    return Trimmed(removed=int(reply[0]), skipped=_pairs(reply[1:]))


def _pairs(flat: list[Any]) -> dict[str, int]:
    return {_text(flat[i]): int(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}


class RedisIngest:
    """``Pipeline``'s durable back end: XADD each Export request, bounded, then ack."""

    def __init__(
        self,
        config: RedisConfig,
        groups: list[str],
        *,
        best_effort: Collection[str] | None = None,
    ) -> None:
        self.config = config
        self.keys = IngestKeys(config.key_prefix, config.ingest.shards)
        self.groups = groups
        #: Groups of best-effort exporters (marked in Redis; ``None``: leave the marks
        #: to the writers, who know their exporters).
        self.best_effort = best_effort
        self.client: Client | None = None
        self._script: Any = None
        self._groups_ready = False
        self._next_shard = 0
        #: Why the last Redis call failed, until one succeeds again (readiness).
        self.unavailable: str | None = None
        #: Why a durable group's store refuses writes (its writers say so through
        #: :meth:`IngestKeys.failing`), as last seen (readiness).
        self.store_failing: str | None = None
        self._watch: asyncio.Task[None] | None = None
        self._stopping = False
        self._durable = [g for g in groups if g not in (best_effort or ())]

    async def start(self) -> None:
        """Connect and create the consumer groups. Redis being down is not fatal here:
        receivers answer ``UNAVAILABLE`` until it is back."""
        self._stopping = False
        self.client = connect(self.config)
        self._script = self.client.register_script(_SUBMIT)
        try:
            await self._ensure_groups()
        except UnavailableError as exc:
            _log.error("%s; refusing Exports until it is reachable", exc)
        self._watch = asyncio.create_task(self._watch_failing(), name="ingest-failing-watch")
        _log.info(
            "durable ingest: %d Redis stream(s) %s..., backlog bound %d entries per stream",
            self.keys.shards,
            self.keys.stream(0),
            self.config.ingest.max_backlog_entries,
        )

    def _stopped(self) -> bool:
        return self._stopping

    def _failing_keys(self, stream: str) -> list[str]:
        return [self.keys.failing(stream, group) for group in self._durable]

    async def _watch_failing(self) -> None:
        """Keep :attr:`store_failing` current for ``/readyz``, traffic or not.

        Ends when :meth:`stop` says so, even if redis-py turned the cancellation into one
        of its own errors (which this loop must otherwise survive)."""
        while self.client is not None and not self._stopped():
            try:
                reasons = (
                    [
                        _text(why)
                        for stream in self.keys.all_streams()
                        for why in await self.client.mget(self._failing_keys(stream))
                        if why is not None
                    ]
                    if self._durable
                    else []
                )
                self.store_failing = reasons[0] if reasons else None
            except RedisError:
                if self._stopped():
                    return
                # :attr:`unavailable` says so
            await asyncio.sleep(_WATCH_EVERY_S)

    async def _ensure_groups(self) -> None:
        assert self.client is not None
        try:
            await ensure_groups(self.client, self.keys, self.groups, best_effort=self.best_effort)
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
            keys = [stream, best_effort_key(stream), *self._failing_keys(stream)]
            result = await self._script(keys=keys, args=args)
        except RedisError as exc:
            self.unavailable = f"durable queue unavailable: {exc}"
            raise UnavailableError(self.unavailable, retry_after=1.0) from exc
        self.unavailable = None
        if isinstance(result, list) and result and result[0] == b"!failing":
            self.store_failing = _text(result[1])
            raise UnavailableError(
                f"the store cannot take writes now: {self.store_failing}", retry_after=2.0
            )
        if isinstance(result, list):  # trimmed first: what best-effort groups lost
            for name, lost in _pairs(result[1:]).items():
                count_skipped_entries(name, lost)
        elif isinstance(result, int):
            raise BackpressureError(
                f"ingest stream {stream} is full ({result} entries not yet written by every "
                f"exporter; bound {self.config.ingest.max_backlog_entries})",
                retry_after=1.0,
            )

    async def stop(self) -> None:
        """Stop the failing-watch and close the client, in bounded time: redis-py can
        swallow a cancellation inside a command and then wait on its connection, so the
        watch is waited for briefly, the client closed (which ends any such wait), and the
        watch waited for once more."""
        self._stopping = True
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.cancel()
            await asyncio.wait({watch}, timeout=_STOP_WAIT_S)
        if self.client is not None:
            await self.client.aclose()
            self.client = None
        if watch is not None and not watch.done():
            await asyncio.wait({watch}, timeout=_STOP_WAIT_S)
            if not watch.done():
                _log.warning("the ingest failing-watch did not stop in time; left behind")
        if watch is not None and watch.done() and not watch.cancelled():
            with contextlib.suppress(Exception):
                watch.result()


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}"
