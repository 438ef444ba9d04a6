"""Configuration of the live tail (the ``extensions.live_tail`` section of the service config).

Only pydantic here: the extension factory's config model, validated before any I/O.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["LiveTailConfig"]


class LiveTailConfig(BaseModel):
    """Live streams, history-first SSE and per-client limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Publish every record to the live bus. When no ``live_tail`` exporter is listed in a
    #: pipeline, the extension contributes one (``tasklogs serve`` and ``tasklogs worker``)
    #: with :attr:`publish_linger_ms`.
    enabled: bool = True
    #: Batch linger of the implicit publisher: none by default, because this is the
    #: latency floor (lines that queue while a publish runs still go out as one batch).
    publish_linger_ms: int = Field(default=0, ge=0, le=10_000)
    #: Lines kept per live stream (Redis ``MAXLEN ~`` scaled by the entry's line count,
    #: or the in-process ring buffer exactly).
    stream_maxlen: int = Field(default=10_000, ge=100)
    #: Seconds a live stream is kept after its last line (Redis key expiry / ring eviction).
    stream_max_age_s: float = Field(default=3600, gt=0)
    #: Lines of recent history an SSE stream sends before going live.
    history_lines: int = Field(default=1000, ge=0, le=10_000)
    #: Seconds between heartbeat comments on an idle SSE stream.
    heartbeat_s: float = Field(default=15, gt=0)
    #: Concurrent SSE streams per tenant (anonymous clients share one budget); over it: 429.
    max_streams_per_tenant: int = Field(default=200, ge=1)
    #: Concurrent history queries (pages, downloads) per tenant (anonymous clients share
    #: one budget); over it: 429 with ``Retry-After``, so one tenant's heavy queries cannot
    #: take every store connection and worker thread from the others.
    max_queries_per_tenant: int = Field(default=8, ge=1)
    #: Lines buffered per SSE client; a client that falls further behind re-reads the live
    #: stream (or the store) instead of holding server memory.
    client_buffer_lines: int = Field(default=10_000, ge=100)
    #: Lifetime of a signed query token (``?access_token=``) for EventSource clients.
    query_token_ttl_s: int = Field(default=300, ge=10, le=86_400)
    #: A task with no end record is ``running`` until no line arrived for this long, then
    #: ``unknown`` (the runs index, docs/read-api.md).
    stale_after_s: float = Field(default=3600, gt=0)
    #: A task stream whose next live entry skips seqs (the lines after the client's last
    #: are not on the bus yet: a writer that died mid-batch, whose pending entries another
    #: consumer publishes after newer ones) holds what follows for up to this long, so the
    #: late lines go out in seq order; then it looks for them in the store ...
    reorder_wait_s: float = Field(default=1.0, ge=0)
    #: ... until this long after the hole was found (it covers a dead writer's takeover,
    #: ``redis.ingest.heartbeat_timeout_s``); what neither brought is then a ``gap`` event.
    hole_wait_s: float = Field(default=15.0, ge=0)
    #: ``retry:`` (ms) sent to clients when the server shuts down, before it closes streams.
    reconnect_ms: int = Field(default=1000, ge=0)
