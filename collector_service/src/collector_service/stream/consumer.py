"""Writers: every exporter consumes the ingest streams through its own consumer group.

One :class:`StreamConsumer` per (exporter, stream) keeps exactly one batch in flight: it
reads entries (``XREADGROUP``) until it holds ``batch.send_batch_max_size`` records or
``batch.timeout_ms`` passed, decodes them column-wise into one :class:`LogBatch` whose
``token`` is derived from the entry ids, pushes it through the shared retry/timeout
wrapper and ``XACK``\\ s only after the write succeeded. So a consumer's pending entries
(its PEL) are always exactly its batch in flight, and a replay re-forms the same batch:

- after a Redis error, the consumer re-reads its own PEL (``XREADGROUP ... 0``);
- a consumer whose heartbeat key lapsed (a crashed or SIGKILLed writer) has its whole
  PEL claimed (``XPENDING`` + one atomic ``XCLAIM``) by a live consumer, which replays it
  as one batch with the same token, so a store that honours the token (ClickHouse
  ``insert_deduplication_token``, the PostgreSQL batch ledger) stores it once.

Unwritable batches are dead-lettered and acknowledged, never retried forever. Redis
errors never stop a writer: it backs off and retries. Writers run inside ``tasklogs
serve`` or as separate processes (``tasklogs worker --exporter NAME``), any number.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from redis.exceptions import RedisError, ResponseError

from collector_service import metrics
from collector_service.component.exporter import (
    ExporterSpec,
    contributed_exporters,
    resolve_exporters,
)
from collector_service.component.extension import resolve_extensions
from collector_service.errors import ConfigError
from collector_service.gc_tune import settle_heap
from collector_service.malloc_tune import trim_forever
from collector_service.pipeline.deadletter import RedisDeadLetter
from collector_service.pipeline.helper import ExporterHandle, Outcome
from collector_service.pipeline.shared_decode import SharedDecode
from collector_service.pipeline.skipped import count_skipped_entries
from collector_service.service.config import Config
from collector_service.stream.config import IngestConfig
from collector_service.stream.entries import StreamEntry, batch_token, decode_entries, parse_entry
from collector_service.stream.queue import (
    Client,
    IngestKeys,
    backlog_of,
    connect,
    ensure_groups,
    trim,
)

if TYPE_CHECKING:
    from collector_service.service.host import ServiceHost

__all__ = ["RedisWriters", "StreamConsumer", "batch_token", "consumer_name", "run_worker"]

_log = logging.getLogger(__name__)
_TRIM_EVERY_S = 0.5
_LINGER_POLL_S = 0.005
_WARN_EVERY_S = 10.0  # a lingering consumer's nap between reads
_PROBE_EVERY_S = 2.0  # how often each exporter's probe() runs (readiness)


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class StreamConsumer:
    """One exporter's consumer on one ingest stream; one batch in flight at a time."""

    def __init__(
        self,
        client: Client,
        keys: IngestKeys,
        stream: str,
        *,
        handle: ExporterHandle,
        ingest: IngestConfig,
        name: str,
        stopping: asyncio.Event,
        shared: SharedDecode | None = None,
        sharers: int = 1,
        best_effort: bool = False,
    ) -> None:
        self.client = client
        self.keys = keys
        self.stream = stream
        self.handle = handle
        self.group = handle.component_id
        self.ingest = ingest
        self.name = name
        self.stopping = stopping
        #: Decodes each entry once for the ``sharers`` consumers of this stream here.
        self.shared = shared
        self.sharers = sharers
        #: A best-effort group (the live tail) loses what the trim cuts while it lags.
        self.best_effort = best_effort
        self._last_trim = 0.0
        self._last_takeover = 0.0
        self._warned_skip = -_WARN_EVERY_S
        self._said_failing = False

    async def run(self) -> None:
        """Until ``stopping``: replay own PEL, take over dead consumers, read new batches."""
        backoff = 0.1
        with contextlib.suppress(RedisError):  # the heartbeat task keeps trying
            await self._beat()
        while not self.stopping.is_set():
            try:
                if not await self._step():
                    continue
                backoff = 0.1
            except Exception as exc:  # noqa: BLE001 - a writer never dies; it backs off
                if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
                    # The stream or group was deleted under us: recreate, read from 0.
                    with contextlib.suppress(RedisError):
                        await ensure_groups(
                            self.client,
                            self.keys,
                            [self.group],
                            best_effort=[self.group] if self.best_effort else [],
                        )
                if isinstance(exc, RedisError):
                    _log.warning(
                        "writer %s on %s: Redis error (%r); retrying in %.1fs",
                        self.group,
                        self.stream,
                        exc,
                        backoff,
                    )
                else:
                    _log.exception("writer %s on %s: unexpected error", self.group, self.stream)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), backoff * random.uniform(0.5, 1.5))  # noqa: S311
                backoff = min(backoff * 2, 5.0)

    async def _step(self) -> bool:
        own = await self._read(b"0", count=1_000_000, block=None)
        if own:  # a batch left over after a Redis error, or one just taken over
            await self._process(own)
            return True
        now = time.monotonic()
        if now - self._last_takeover >= self.ingest.heartbeat_timeout_s / 2:
            self._last_takeover = now
            if await self._take_over():
                return True
        batch = await self._gather()
        if batch:
            await self._process(batch)
        elif time.monotonic() - self._last_trim >= _TRIM_EVERY_S:
            await self._trim()  # idle: trim what the last writes acknowledged
        return True

    async def _read(self, start: bytes, count: int, block: int | None) -> list[StreamEntry]:
        reply = await self.client.xreadgroup(
            self.group, self.name, {self.stream: start}, count=count, block=block
        )
        out = []
        for _stream, rows in reply or []:
            for entry_id, fields in rows:
                if fields:  # an entry trimmed while pending comes back empty: nothing to do
                    out.append(parse_entry(entry_id, fields))
                else:
                    await self.client.xack(self.stream, self.group, entry_id)
        return out

    async def _gather(self) -> list[StreamEntry]:
        """New entries until the batch is full, the linger ran out, or we are stopping."""
        helper = self.handle.helper
        max_records = helper.batch.send_batch_max_size
        entries: list[StreamEntry] = []
        records = 0
        deadline: float | None = None
        while records < max_records and not self.stopping.is_set():
            # Once a batch has begun, linger on our own clock: Redis times a short BLOCK
            # out only on its clock tick (1000/hz ms: a 5 ms BLOCK takes ~100 ms at the
            # default hz 10), which would add up to that to every line of a quiet stream.
            # So read without blocking, and nap briefly while nothing new has come.
            if deadline is not None and time.monotonic() >= deadline:
                break
            block = self.ingest.block_ms if deadline is None else None
            got = await self._read(b">", count=self.ingest.read_count, block=block)
            if not got:
                if deadline is None:
                    return entries  # idle: go round (heartbeat, takeover, stop check)
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                await asyncio.sleep(min(left, _LINGER_POLL_S))
                continue
            if deadline is None:
                deadline = time.monotonic() + helper.batch.timeout_ms / 1000
            entries.extend(got)
            records += sum(e.records for e in got)
        return entries

    async def _process(self, entries: list[StreamEntry]) -> None:
        # Decode off the exporter's thread: with several streams (``shards``) one
        # consumer decodes while another's batch is being written.
        batch, bad = await asyncio.to_thread(
            decode_entries, self.stream, entries, self.shared, self.sharers
        )
        if bad:
            await self.handle.keep(
                [(e.payload, e.tenant, e.records) for e in bad],
                "malformed request in the ingest stream",
            )
        if len(batch):
            outcome = await self.handle.push(batch, stop=self.stopping)
            if outcome is Outcome.ABANDONED:  # replayed by a successor, same token
                _log.warning(
                    "writer %s on %s: stopping; batch of %d entries left pending for a successor",
                    self.group,
                    self.stream,
                    len(entries),
                )
                return
            if outcome is Outcome.FAILED:
                good = [e for e in entries if e not in bad]
                await self.handle.keep(
                    [(e.payload, e.tenant, e.records) for e in good],
                    f"export failed: {self.handle.last_error}",
                )
        await self.client.xack(self.stream, self.group, *[e.id for e in entries])
        now = time.time_ns()
        lag = metrics.EXPORTER_LAG.labels(self.group)
        for entry in entries:
            if entry.received_ns:
                lag.observe((now - entry.received_ns) / 1e9)
        if time.monotonic() - self._last_trim >= _TRIM_EVERY_S:
            await self._trim()

    async def _trim(self) -> None:
        self._last_trim = time.monotonic()
        trimmed = await trim(self.client, self.stream, self.ingest.max_backlog_entries)
        for name, lost in trimmed.skipped.items():
            count_skipped_entries(name, lost)
            if time.monotonic() - self._warned_skip >= _WARN_EVERY_S:
                self._warned_skip = time.monotonic()
                _log.warning(
                    "best-effort exporter %s on %s fell behind the ingest bound: %d entries "
                    "trimmed before it read them (tasklogs_exporter_skipped_entries_total)",
                    name,
                    self.stream,
                    lost,
                )
        backlog = await self.client.xlen(self.stream)
        metrics.INGEST_BACKLOG.labels(self.stream).set(backlog)
        metrics.INGEST_BACKLOG_CAPACITY.labels(self.stream).set(self.ingest.max_backlog_entries)
        waiting = await backlog_of(self.client, self.stream, self.group)
        if waiting is not None:
            metrics.EXPORTER_QUEUE_ENTRIES.labels(self.group, self.stream).set(waiting)

    async def _beat(self) -> None:
        key = self.keys.heartbeat(self.stream, self.group, self.name)
        await self.client.set(key, b"1", px=int(self.ingest.heartbeat_timeout_s * 1000))

    async def _say_failing(self) -> None:
        """While the store refuses writes, receivers must refuse Exports (backpressure)
        rather than let batches pile up or be dead-lettered: say so in Redis."""
        key = self.keys.failing(self.stream, self.group)
        why = None if self.best_effort else self.handle.not_ready
        if why is not None:
            ttl = int(self.ingest.heartbeat_timeout_s * 1000)
            await self.client.set(key, why.encode()[:2000], px=max(ttl, 2000))
            self._said_failing = True
        elif self._said_failing:
            await self.client.delete(key)
            self._said_failing = False

    async def heartbeat(self) -> None:
        """Refresh this consumer's liveness key until stopped (a separate task)."""
        while not self.stopping.is_set():
            with contextlib.suppress(RedisError):
                await self._beat()
                await self._say_failing()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.ingest.heartbeat_timeout_s / 4)

    async def _take_over(self) -> bool:
        """Claim the whole PEL of one dead consumer of this group; True if claimed."""
        for row in await self.client.xinfo_consumers(self.stream, self.group):
            dead = row["name"].decode() if isinstance(row["name"], bytes) else str(row["name"])
            if dead == self.name:
                continue
            if await self.client.exists(self.keys.heartbeat(self.stream, self.group, dead)):
                continue
            if not int(row["pending"]):
                await self.client.xgroup_delconsumer(self.stream, self.group, dead)
                continue
            lock = self.keys.takeover(self.stream, self.group, dead)
            if not await self.client.set(lock, self.name.encode(), nx=True, px=30_000):
                continue
            rows = await self.client.xpending_range(
                self.stream, self.group, min="-", max="+", count=1_000_000, consumername=dead
            )
            ids = [r["message_id"] for r in rows]
            if ids:
                await self.client.xclaim(
                    self.stream,
                    self.group,
                    self.name,
                    min_idle_time=0,
                    message_ids=ids,
                    justid=True,
                )
            await self.client.xgroup_delconsumer(self.stream, self.group, dead)
            _log.warning(
                "writer %s on %s: took over %d pending entries of dead consumer %s",
                self.group,
                self.stream,
                len(ids),
                dead,
            )
            return bool(ids)
        return False

    async def close(self) -> None:
        """Clean exit: drop the heartbeat (a successor may claim leftovers at once)."""
        with contextlib.suppress(RedisError):
            await self.client.delete(self.keys.heartbeat(self.stream, self.group, self.name))
            pending = await self.client.xpending_range(
                self.stream, self.group, min="-", max="+", count=1, consumername=self.name
            )
            if not pending:
                await self.client.xgroup_delconsumer(self.stream, self.group, self.name)


class RedisWriters:
    """The writers of some exporters: one consumer per (exporter, stream)."""

    def __init__(
        self, config: Config, specs: list[ExporterSpec], shared: SharedDecode | None = None
    ) -> None:
        if config.redis is None:
            raise ConfigError("redis: not configured; writers need the durable ingest stream")
        self.config = config
        self.redis = config.redis
        self.specs = specs
        self.keys = IngestKeys(self.redis.key_prefix, self.redis.ingest.shards)
        self.handles: list[ExporterHandle] = []
        self.consumers: list[StreamConsumer] = []
        self.stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._client: Client | None = None
        #: One decode per (stream, entry id) for every consumer of this process.
        self.shared = shared if shared is not None else SharedDecode()

    async def start(self) -> None:
        """Start exporters (may raise), create groups, start consumers and heartbeats."""
        read_timeout = self.redis.ingest.block_ms / 1000 + 5
        self._client = client = connect(self.redis, read_timeout=read_timeout)
        dead_letter = RedisDeadLetter(
            client, self.redis.key_prefix, self.redis.ingest.dead_letter_maxlen
        )
        groups = [spec.component_id for spec in self.specs]
        best_effort = [spec.component_id for spec in self.specs if spec.best_effort]
        await _until_connected(
            lambda: ensure_groups(client, self.keys, groups, best_effort=best_effort),
            self.stopping,
        )
        if self.stopping.is_set():
            return
        name = consumer_name()
        for spec in self.specs:
            handle = ExporterHandle(
                spec.component_id, spec.create(self.config.data_dir), spec.helper, dead_letter
            )
            await handle.start()
            self.handles.append(handle)
            for stream in self.keys.all_streams():
                consumer = StreamConsumer(
                    client,
                    self.keys,
                    stream,
                    handle=handle,
                    ingest=self.redis.ingest,
                    name=name,
                    stopping=self.stopping,
                    shared=self.shared,
                    sharers=len(self.specs),
                    best_effort=spec.best_effort,
                )
                self.consumers.append(consumer)
        for consumer in self.consumers:
            self._tasks.append(asyncio.create_task(consumer.run()))
            self._tasks.append(asyncio.create_task(consumer.heartbeat()))
        for handle in self.handles:
            self._tasks.append(asyncio.create_task(handle.watch(_PROBE_EVERY_S, self.stopping)))
        _log.info(
            "writers for %s started as consumer %s on %d stream(s)",
            ", ".join(groups),
            name,
            self.keys.shards,
        )

    async def stop(self, timeout: float) -> None:
        """Finish the batches in flight within ``timeout``, then stop exporters.

        A batch not written in time stays pending in Redis and is replayed by a
        successor: stopping never loses anything already acknowledged to a sender.
        """
        self.stopping.set()
        if self._tasks:
            _done, late = await asyncio.wait(self._tasks, timeout=timeout)
            for task in late:
                task.cancel()
            if late:
                _log.error(
                    "writers: %d task(s) did not finish within %.1fs; their batches "
                    "stay pending for another writer",
                    len(late),
                    timeout,
                )
                await asyncio.wait(late, timeout=1.0)
        began = time.monotonic()
        for consumer in self.consumers:
            await consumer.close()
        for handle in self.handles:
            await handle.stop()
            _log.info(
                "writers: exporter %s stopped after %.2fs",
                handle.component_id,
                time.monotonic() - began,
            )
        if self._client is not None:
            await self._client.aclose()
        self._tasks.clear()
        self.consumers.clear()
        self.handles.clear()
        self._client = None


async def _until_connected(make: Callable[[], Awaitable[None]], stopping: asyncio.Event) -> None:
    """Retry a Redis setup call with backoff until it succeeds (writers never crash)."""
    backoff = 0.2
    while True:
        try:
            await make()
            return
        except RedisError as exc:
            if stopping.is_set():
                return
            _log.warning("writers: Redis unavailable (%r); retrying in %.1fs", exc, backoff)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), backoff)
            backoff = min(backoff * 2, 5.0)


async def run_worker(
    config: Config,
    exporters: list[str],
    drain_timeout: float = 30.0,
    host: ServiceHost | None = None,
) -> None:
    """``tasklogs worker``: run the writers of ``exporters`` until SIGINT/SIGTERM.

    The extensions run too (no API), started before the writers and shut down after
    them, so exporters find what they share through ``host`` (a fresh one by default).
    """
    from collector_service.service.host import ServiceHost

    host = host or ServiceHost.from_config(config)
    specs = resolve_exporters(config, host=host)  # every section validated before any I/O
    host.create_extensions(resolve_extensions(config.extensions))
    # The same exporters, and so the same consumer groups, as the receiving service.
    specs += contributed_exporters(specs, host.extensions, host)
    known = {spec.component_id: spec for spec in specs}
    wanted = exporters or list(known)
    for cid in wanted:
        if cid not in known:
            raise ConfigError(
                f"exporters.{cid}: not used by any pipeline (known: {', '.join(known) or 'none'})"
            )
    if left := [cid for cid in known if cid not in wanted]:
        # Every exporter has a consumer group on the ingest stream: one nobody reads holds
        # the backlog until the receivers refuse everything.
        _log.warning(
            "this worker does not write %s: run a worker for them too (tasklogs worker "
            "--exporter %s), or the ingest backlog fills and receivers refuse Exports",
            ", ".join(left),
            left[0],
        )
    writers = RedisWriters(config, [known[cid] for cid in wanted])
    loop = asyncio.get_running_loop()
    stop = writers.stopping
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    trimmer: asyncio.Task[None] | None = None
    try:
        await host.start_extensions()
        await writers.start()
        settle_heap()  # start-up ends here: no full GC pass over its heap from now on
        trimmer = asyncio.create_task(trim_forever(), name="malloc-trim")
        await stop.wait()
        _log.info("worker shutting down: finishing batches in flight")
    finally:
        if trimmer is not None:
            trimmer.cancel()
        host.drain_extensions()
        await writers.stop(drain_timeout)
        await host.shutdown_extensions()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
