"""The live tail's Prometheus metrics, in its own registry.

The extension adds :data:`REGISTRY` to the host (``/metrics`` serves it beside the
core's metrics); names are the service's (``tasklogs_live_tail_*``).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = [
    "LIVE_GAPS",
    "LIVE_PUBLISH_DROPPED",
    "LIVE_PUBLISH_FOREIGN",
    "LIVE_REFUSED",
    "LIVE_RESYNCS",
    "LIVE_SENT",
    "LIVE_STREAMS",
    "REGISTRY",
]

REGISTRY = CollectorRegistry(auto_describe=True)

LIVE_STREAMS = Gauge(
    "tasklogs_live_tail_streams",
    "Open SSE streams, by kind (task, run).",
    ["kind"],
    registry=REGISTRY,
)
LIVE_SENT = Counter(
    "tasklogs_live_tail_sent_log_records",
    "Log lines sent to SSE clients (history and live), by stream kind.",
    ["kind"],
    registry=REGISTRY,
)
LIVE_GAPS = Counter(
    "tasklogs_live_tail_gap_events",
    "gap events sent: lines a client could be given from neither live stream nor store.",
    ["kind"],
    registry=REGISTRY,
)
LIVE_RESYNCS = Counter(
    "tasklogs_live_tail_resyncs",
    "Times a client fell behind and re-read from the stream or the store: its buffer was "
    "full (buffer), or the stream was trimmed before the reader read it (trimmed).",
    ["reason"],
    registry=REGISTRY,
)
LIVE_REFUSED = Counter(
    "tasklogs_live_tail_refused_streams",
    "SSE streams refused (limit: the tenant's concurrent-stream budget, HTTP 429).",
    ["reason"],
    registry=REGISTRY,
)
LIVE_PUBLISH_DROPPED = Counter(
    "tasklogs_live_tail_publish_dropped_log_records",
    "Log lines the live bus refused (e.g. Redis down); clients get them from the store.",
    registry=REGISTRY,
)
LIVE_PUBLISH_FOREIGN = Counter(
    "tasklogs_live_tail_refused_foreign_log_records",
    "Log lines the live bus refused because another tenant owns their task run id.",
    registry=REGISTRY,
)
