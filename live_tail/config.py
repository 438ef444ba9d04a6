"""Configuration of the live tail (the ``live_tail:`` section of the service config).

Only pydantic here: :mod:`collector_service.config` imports this module.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["LiveTailConfig"]


class LiveTailConfig(BaseModel):
    """Live streams, history-first SSE and per-client limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Lines kept per live stream (Redis ``MAXLEN ~``, or the in-process ring buffer).
    stream_maxlen: int = Field(default=10_000, ge=100)
    #: Seconds a live stream is kept after its last line (Redis key expiry / ring eviction).
    stream_max_age_s: float = Field(default=3600, gt=0)
    #: Lines of recent history an SSE stream sends before going live.
    history_lines: int = Field(default=1000, ge=0, le=10_000)
    #: Seconds between heartbeat comments on an idle SSE stream.
    heartbeat_s: float = Field(default=15, gt=0)
