"""Config of the Redis stream queue (``redis:``): the durable hand-off and its consumers."""

from __future__ import annotations

from pydantic import (
    Field,
)

from collector_service.component.config import StrictModel

__all__ = ["IngestConfig", "RedisConfig"]


class IngestConfig(StrictModel):
    """The durable ingest stream (``redis.ingest``): its bound, sharding and consumers."""

    #: Ingest streams (``{<key_prefix>:ingest:<n>}``); more spread a Redis Cluster's load.
    shards: int = Field(default=1, ge=1, le=256)
    #: Entries (Export requests) not yet acknowledged by the slowest exporter, per shard,
    #: past which receivers refuse with backpressure. Bounds Redis memory (a 512-record
    #: request of ~200-byte lines is ~100 KB: 2048 entries ~ 200 MB per stream).
    max_backlog_entries: int = Field(default=2048, ge=1)
    #: Entries one XREADGROUP fetches; a consumer gathers up to the exporter's
    #: ``batch.send_batch_max_size`` records (or ``batch.timeout_ms``) into one write.
    read_count: int = Field(default=128, ge=1)
    #: How long a consumer blocks waiting for new entries.
    block_ms: int = Field(default=500, ge=1)
    #: A consumer whose heartbeat is older than this is dead: its pending batch is
    #: claimed and replayed (same entries, same dedup token) by another consumer.
    heartbeat_timeout_s: float = Field(default=10.0, gt=0)
    #: Dead-letter entries kept per exporter (oldest dropped past it).
    dead_letter_maxlen: int = Field(default=100_000, ge=1)
    #: Run the writers (stream consumers) inside ``tasklogs serve``; ``false`` for
    #: receiver-only processes, with writers in ``tasklogs worker --exporter NAME``.
    writers: bool = True


class RedisConfig(StrictModel):
    """Redis for the durable ingest stream and the live bus (absent: embedded default)."""

    #: ``redis://host:port/db`` (``rediss://`` for TLS); for a cluster, any one node.
    url: str
    #: Redis Cluster: keys of one pipeline run share a hash tag, so they sit on one slot.
    cluster: bool = False
    #: Prefix of every key this service writes, so several deployments share a Redis.
    key_prefix: str = Field(default="tasklogs", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    ingest: IngestConfig = IngestConfig()
