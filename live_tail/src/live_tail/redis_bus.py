"""The live bus on Redis Streams: one stream per task run and one per pipeline run.

Keys of one pipeline run share a hash tag (one Redis Cluster slot). Streams are trimmed
with ``XADD MAXLEN ~`` and expire ``max_age_s`` after their last entry. The publisher
pipelines one Lua script per chunk on a synchronous client (it runs on the exporter's
worker thread): the chunk gets the same id in its task and run streams, and the run's
task index records it (see :mod:`live_tail.run_rebuild`). The API process runs ONE
reader task per hash-tag group (one in total without cluster mode: cross-slot XREAD is
refused in a cluster) that multiplexes every subscribed stream with ``XREAD BLOCK`` and
fans entries out to the subscriptions, so a thousand browsers cost one blocking
connection. A reader that finds a stream trimmed past where it stood (each entry names
the one before it) re-syncs its clients rather than lose lines in silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Sequence
from typing import Any

import redis
import redis.asyncio as aredis
from redis.exceptions import RedisError

from collector_service.component.store import TaskSummaryRow
from live_tail.bus import Entry, LiveBus, Subscription, TaskInfo
from live_tail.metrics import LIVE_PUBLISH_FOREIGN, LIVE_RESYNCS
from live_tail.model import (
    Chunk,
    EntryId,
    parse_entry_id,
    run_tasks_key,
    task_index_key,
    task_state_key,
)
from live_tail.shared_reads import SharedReads
from live_tail.task_state import chunk_state, exit_code_of

__all__ = ["RedisBus"]

_log = logging.getLogger(__name__)
_BLOCK_MS = 100  # how soon a newly subscribed stream joins the reader's XREAD
_PREV = b"p"
_RUN_LAST = b"\x00run"  # the run stream's last id, in the run's task index
_POOL = 32  # connections for range reads and lookups, shared by every client

# One chunk, atomically. Each entry carries ``p``, the id of the entry before it in its
# stream, so a reader that sees ``p`` differ from where it stood knows the stream was
# trimmed past it and re-syncs its clients (nothing lost in silence). With a run
# (KEYS[2], KEYS[3]): XADD to the run stream, the SAME id to the task stream, and the
# task's first/last id in the run's task index, which also keeps the run stream's last id
# (field NUL + "run"): the ``p`` of both streams come from one HMGET, not from XREVRANGE (a
# reverse read of a stream costs ~5x an XADD). Task stream ids come only from here, so
# the run stream's new id is above them; should a task stream outlive its run's keys
# (eviction), it takes an id of its own.
_PUBLISH = """
local data, maxlen, ttl, tid = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if #KEYS == 1 then
  local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
  local prev = last[1] and last[1][1] or '0-0'
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', 'd', data, 'p', prev)
  redis.call('EXPIRE', KEYS[1], ttl)
  return id
end
local seen = redis.call('HMGET', KEYS[3], tid, '\\0run')
local first, task_prev = '', '0-0'
if seen[1] then first, task_prev = string.match(seen[1], '^(%S+) (%S+)$') end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', maxlen, '*', 'd', data, 'p', seen[2] or '0-0')
local r = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', maxlen, id, 'd', data, 'p', task_prev)
if type(r) == 'table' and r.err then
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', 'd', data, 'p', task_prev)
end
if first == '' then first = id end
redis.call('HSET', KEYS[3], tid, first .. ' ' .. id, '\\0run', id)
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ttl) end
return id
"""

# Before a chunk is published: its task run's owner, and its live state. KEYS[1] is the
# task index key ("<pipeline run>\x1f<tenant>", set by the first publisher and only
# refreshed after), KEYS[2] the state hash; both on the task run's slot. Returns 0 for a
# chunk of another tenant (refused), 1 otherwise. Nanosecond times and seqs are compared
# as decimal strings (Lua numbers are doubles).
_CLAIM = """
local function lt(a, b) if #a ~= #b then return #a < #b end return a < b end
local cur = redis.call('GET', KEYS[1])
if cur then
  local sep = string.find(cur, '\\31', 1, true)
  local owner = sep and string.sub(cur, sep + 1) or ''
  if owner ~= ARGV[2] then return 0 end
  redis.call('EXPIRE', KEYS[1], ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
end
local s = KEYS[2]
local h = redis.call('HMGET', s, 'f', 'l', 'fe', 'ms', 'en', 'at', 'pn', 'tn', 'sn')
if ARGV[4] ~= '' and not h[7] then redis.call('HSET', s, 'pn', ARGV[4]) end
if ARGV[5] ~= '' and not h[8] then redis.call('HSET', s, 'tn', ARGV[5]) end
if ARGV[6] ~= '' and not h[9] then redis.call('HSET', s, 'sn', ARGV[6]) end
if not h[6] or lt(h[6], ARGV[7]) then redis.call('HSET', s, 'at', ARGV[7]) end
if not h[1] or lt(ARGV[8], h[1]) then redis.call('HSET', s, 'f', ARGV[8]) end
if not h[2] or lt(h[2], ARGV[9]) then redis.call('HSET', s, 'l', ARGV[9]) end
redis.call('HINCRBY', s, 'n', ARGV[10])
redis.call('HINCRBY', s, 'e', ARGV[11])
if ARGV[12] ~= '' and (not h[3] or lt(ARGV[12], h[3])) then
  redis.call('HSET', s, 'fe', ARGV[12])
end
if not h[4] or lt(h[4], ARGV[13]) then redis.call('HSET', s, 'ms', ARGV[13]) end
if ARGV[16] ~= '' and (not h[5] or not lt(ARGV[16], h[5])) then
  redis.call('HSET', s, 'r', ARGV[14], 'x', ARGV[15], 'en', ARGV[16])
end
redis.call('EXPIRE', s, ARGV[3])
return 1
"""


def _opt(value: int | None) -> str:
    return "" if value is None else str(value)


def _state(task_run_id: str, index: bytes | None, raw: dict[bytes, bytes]) -> TaskSummaryRow | None:
    if index is None or not raw:
        return None
    pid, _, tenant = index.decode().partition("\x1f")
    f = {k.decode(): v.decode() for k, v in raw.items()}

    def num(name: str) -> int:
        v = f.get(name, "")
        return int(v) if v.lstrip("-").isdigit() else 0

    return TaskSummaryRow(
        task_run_id=task_run_id,
        pipeline_run_id=pid,
        tenant=tenant,
        pipeline_name=f.get("pn", ""),
        task_name=f.get("tn", ""),
        service_name=f.get("sn", ""),
        attempt=num("at"),
        first_ns=num("f"),
        last_ns=num("l"),
        line_count=num("n"),
        error_count=num("e"),
        first_error_seq=num("fe") if f.get("fe") else None,
        max_seq=num("ms"),
        result=f.get("r", ""),
        exit_code=exit_code_of(f.get("x")),
        end_ns=num("en") if f.get("en") else None,
    )


def _fmt(pos: EntryId) -> str:
    return f"{pos[0]}-{pos[1]}"


def _group_of(key: str) -> str:
    start = key.find("{")
    end = key.find("}", start + 1)
    return key[start : end + 1] if start >= 0 and end > start else key


class _Reader:
    """One XREAD BLOCK loop over a set of streams, fanning entries out."""

    def __init__(self, client: Any, shared: SharedReads) -> None:
        self.client = client
        self.shared = shared
        self.positions: dict[str, EntryId] = {}
        self.subs: dict[str, set[Subscription]] = {}
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        backoff = 0.1
        while self.positions:
            streams = {k: _fmt(p) for k, p in self.positions.items()}
            try:
                reply = await self.client.xread(streams, block=_BLOCK_MS)
                backoff = 0.1
            except RedisError as exc:
                _log.warning("live bus reader: %r; retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            for raw_key, items in reply or []:
                key = raw_key.decode() if isinstance(raw_key, bytes) else raw_key
                subs = self.subs.get(key)
                if not subs:
                    continue
                prev = items[0][1].get(_PREV) if items else None
                if prev is not None and parse_entry_id(prev.decode()) != self.positions[key]:
                    # Trimmed past where this reader stood: its clients re-sync.
                    LIVE_RESYNCS.labels("trimmed").inc(len(subs))
                    for sub in list(subs):
                        sub.lost()
                for raw_id, fields in items:
                    entry = self.shared.entry(key, raw_id, fields)
                    self.positions[key] = entry.pos
                    for sub in list(subs):
                        sub.offer(entry)


class RedisBus(LiveBus):
    def __init__(
        self,
        url: str,
        *,
        key_prefix: str = "tasklogs",
        cluster: bool = False,
        maxlen: int = 10_000,
        max_age_s: float = 3600,
    ) -> None:
        super().__init__(key_prefix, maxlen, max_age_s)
        self.url = url
        self.cluster = cluster
        self._sync: Any = None
        self._async: Any = None
        self._pool: Any = None
        self._readers: dict[str, _Reader] = {}
        #: Range reads and decoded entries, shared by every client of this process.
        self.shared = SharedReads()
        self._limit = asyncio.Semaphore(_POOL)
        self._expire_s = max(1, math.ceil(max_age_s))

    # -- publish (exporter thread) -----------------------------------------------------

    def _sync_client(self) -> Any:
        if self._sync is None:
            if self.cluster:
                self._sync = redis.RedisCluster.from_url(self.url)
            else:
                self._sync = redis.Redis.from_url(self.url)
        return self._sync

    def _owned(self, chunks: Sequence[Chunk]) -> list[Chunk]:
        """The chunks whose task run their tenant owns (claiming new ones); each chunk's
        live state is recorded on the way."""
        pipe = self._sync_client().pipeline(transaction=False)
        for chunk in chunks:
            st = chunk_state(chunk)
            keys = (
                task_index_key(self.key_prefix, chunk.task_run_id),
                task_state_key(self.key_prefix, chunk.task_run_id),
            )
            args = (
                f"{chunk.pipeline_run_id}\x1f{chunk.tenant}",
                chunk.tenant,
                self._expire_s,
                st.pipeline_name,
                st.task_name,
                st.service_name,
                st.attempt,
                st.first_ns,
                st.last_ns,
                st.line_count,
                st.error_count,
                _opt(st.first_error_seq),
                st.max_seq,
                st.result,
                _opt(st.exit_code),
                _opt(st.end_ns),
            )
            pipe.execute_command("EVAL", _CLAIM, len(keys), *keys, *args)
        owned = []
        for chunk, ok in zip(chunks, pipe.execute(), strict=True):
            if int(ok) == 1:
                owned.append(chunk)
            else:
                LIVE_PUBLISH_FOREIGN.inc(len(chunk.lines))
        return owned

    def publish(self, chunks: Sequence[Chunk]) -> None:
        if not chunks:
            return
        chunks = self._owned(chunks)
        if not chunks:
            return
        pipe = self._sync_client().pipeline(transaction=False)
        for chunk in chunks:
            info = TaskInfo(chunk.pipeline_run_id, chunk.tenant)
            data = chunk.encode()
            # MAXLEN counts entries; scale it by this entry's lines so a stream holds about
            # ``maxlen`` lines whatever the batch size.
            maxlen = max(1, self.maxlen // max(1, len(chunk.lines)))
            keys = [self.task_key(info, chunk.task_run_id)]
            if chunk.pipeline_run_id:
                keys.append(self.run_key(chunk.pipeline_run_id))
                keys.append(run_tasks_key(self.key_prefix, chunk.pipeline_run_id))
            # EVAL, not EVALSHA: nothing to load per node, and it routes in a cluster
            # (through execute_command: a cluster pipeline has no eval() of its own).
            args = (data, maxlen, self._expire_s, chunk.task_run_id)
            pipe.execute_command("EVAL", _PUBLISH, len(keys), *keys, *args)
        pipe.execute()

    # -- read (event loop) -------------------------------------------------------------

    async def start(self) -> None:
        if self._async is None:
            if self.cluster:
                # Each followed hash tag holds one blocking XREAD connection on its node.
                self._async = aredis.RedisCluster.from_url(self.url, max_connections=1024)
            else:
                # Many clients connecting at once queue for a connection, not fail.
                pool = aredis.BlockingConnectionPool.from_url(
                    self.url, max_connections=_POOL, timeout=30
                )
                self._pool = pool
                self._async = aredis.Redis(connection_pool=pool)
            await self._async.ping()

    def _client(self) -> Any:
        if self._async is None:
            raise RuntimeError("RedisBus.start() was not awaited")
        return self._async

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """One range read or lookup, at most ``_POOL`` at once: a cluster client fails
        past its pool instead of waiting, and a thousand clients may ask at once."""
        async with self._limit:
            return await getattr(self._client(), method)(*args, **kwargs)

    async def close(self) -> None:
        for reader in self._readers.values():
            for subs in reader.subs.values():
                for sub in subs:
                    sub.close()
            reader.positions.clear()
            if reader.task is not None:
                reader.task.cancel()
                with contextlib.suppress(BaseException):
                    await reader.task
            if reader.client is not self._async:
                await reader.client.aclose()
        self._readers.clear()
        if self._async is not None:
            await self._async.aclose()
            self._async = None
        if self._pool is not None:
            await self._pool.disconnect()
            self._pool = None
        self.close_sync()

    def close_sync(self) -> None:
        """Close the publisher's connection (a process that only publishes)."""
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    def _reader(self, key: str) -> _Reader:
        group = _group_of(key) if self.cluster else "*"
        reader = self._readers.get(group)
        if reader is None:
            # The blocking XREAD gets a connection of its own, so range reads never wait.
            client = self._async if self.cluster else aredis.Redis.from_url(self.url)
            reader = self._readers[group] = _Reader(client, self.shared)
        return reader

    async def subscribe(self, key: str, limit_lines: int) -> Subscription:
        reader = self._reader(key)
        if key not in reader.positions:

            async def last_id() -> EntryId:
                last = await self._call("xrevrange", key, "+", "-", count=1)
                return parse_entry_id(last[0][0].decode()) if last else (0, 0)

            # A herd subscribing to a new stream at once asks once.
            pos: EntryId = await self.shared.once(("last", key), last_id)
            reader.positions.setdefault(key, pos)  # another subscriber may have won
        sub = Subscription(key, reader.positions[key], limit_lines)
        reader.subs.setdefault(key, set()).add(sub)
        if reader.task is None or reader.task.done():
            reader.task = asyncio.create_task(reader.run(), name="live-bus-reader")
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        reader = self._reader(sub.key)
        subs = reader.subs.get(sub.key)
        if subs is None:
            return
        subs.discard(sub)
        if not subs:
            del reader.subs[sub.key]
            reader.positions.pop(sub.key, None)

    async def _range(self, method: str, key: str, a: str, b: str, count: int) -> list[Entry]:
        """One range read for every client asking the same at once; shared entries."""

        async def run() -> list[Entry]:
            items = await self._call(method, key, a, b, count=count)
            return [self.shared.entry(key, i, f) for i, f in items]

        return list(await self.shared.once((method, key, a, b, count), run))

    async def before(self, key: str, upto: EntryId, count: int) -> list[Entry]:
        return await self._range("xrevrange", key, _fmt(upto), "-", count)

    async def after(self, key: str, after: EntryId, upto: EntryId, count: int) -> list[Entry]:
        if after >= upto:
            return []
        return await self._range("xrange", key, "(" + _fmt(after), _fmt(upto), count)

    async def first_id(self, key: str) -> EntryId | None:
        async def run() -> EntryId | None:
            items = await self._call("xrange", key, "-", "+", count=1)
            return parse_entry_id(items[0][0].decode()) if items else None

        found: EntryId | None = await self.shared.once(("first", key), run)
        return found

    async def task_info(self, task_run_id: str) -> TaskInfo | None:
        raw = await self._call("get", task_index_key(self.key_prefix, task_run_id))
        if raw is None:
            return None
        pid, _, tenant = raw.decode().partition("\x1f")
        return TaskInfo(pid, tenant)

    async def task_states(self, task_run_ids: Sequence[str]) -> dict[str, TaskSummaryRow]:
        if not task_run_ids:
            return {}
        async with self._limit:
            pipe = self._client().pipeline(transaction=False)
            for tid in task_run_ids:
                pipe.get(task_index_key(self.key_prefix, tid))
                pipe.hgetall(task_state_key(self.key_prefix, tid))
            replies = await pipe.execute()
        out: dict[str, TaskSummaryRow] = {}
        for i, tid in enumerate(task_run_ids):
            state = _state(tid, replies[2 * i], replies[2 * i + 1])
            if state is not None:
                out[tid] = state
        return out

    async def run_tasks(self, pipeline_run_id: str) -> dict[str, tuple[EntryId, EntryId]]:
        raw = await self._call("hgetall", run_tasks_key(self.key_prefix, pipeline_run_id))
        out: dict[str, tuple[EntryId, EntryId]] = {}
        for tid, ids in raw.items():
            if tid == _RUN_LAST:
                continue
            first, _, last = ids.decode().partition(" ")
            out[tid.decode()] = (parse_entry_id(first), parse_entry_id(last))
        return out
