"""Prometheus metrics, named after the OpenTelemetry Collector's own.

The Collector's ``otelcol_receiver_accepted_log_records`` becomes
``tasklogs_receiver_accepted_log_records_total`` and so on. All metrics live in
:data:`REGISTRY` (not the global default registry) and are served at ``/metrics``,
beside the registries extensions add
(:meth:`~collector_service.component.extension.Host.add_metrics`).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = [
    "BATCH_SEND_SIZE",
    "EXPORTER_DEAD_LETTERED",
    "EXPORTER_LAG",
    "EXPORTER_QUEUE_CAPACITY",
    "EXPORTER_QUEUE_ENTRIES",
    "EXPORTER_QUEUE_SIZE",
    "EXPORTER_RETRIES",
    "EXPORTER_SEND_FAILED",
    "EXPORTER_SENT",
    "INGEST_BACKLOG",
    "INGEST_BACKLOG_CAPACITY",
    "RECEIVER_ACCEPTED",
    "RECEIVER_REFUSED",
    "REGISTRY",
    "STORE_REFUSED_FOREIGN",
]

REGISTRY = CollectorRegistry(auto_describe=True)

RECEIVER_ACCEPTED = Counter(
    "tasklogs_receiver_accepted_log_records",
    "Log records the receiver acknowledged.",
    ["receiver", "transport"],
    registry=REGISTRY,
)
RECEIVER_REFUSED = Counter(
    "tasklogs_receiver_refused_log_records",
    "Log records the receiver refused (backpressure, malformed, unauthenticated, rejected).",
    ["receiver", "transport", "reason"],
    registry=REGISTRY,
)
STORE_REFUSED_FOREIGN = Counter(
    "tasklogs_store_refused_foreign_log_records",
    "Log records a store refused because another tenant owns their task run id.",
    ["store"],
    registry=REGISTRY,
)
EXPORTER_SENT = Counter(
    "tasklogs_exporter_sent_log_records",
    "Log records an exporter wrote successfully.",
    ["exporter"],
    registry=REGISTRY,
)
EXPORTER_SEND_FAILED = Counter(
    "tasklogs_exporter_send_failed_log_records",
    "Log records an exporter failed to write (after retries, or permanently).",
    ["exporter"],
    registry=REGISTRY,
)
EXPORTER_RETRIES = Counter(
    "tasklogs_exporter_retries",
    "Push attempts an exporter retried.",
    ["exporter"],
    registry=REGISTRY,
)
EXPORTER_DEAD_LETTERED = Counter(
    "tasklogs_exporter_dead_lettered_log_records",
    "Log records kept in the dead-letter store after a permanent error.",
    ["exporter"],
    registry=REGISTRY,
)
EXPORTER_QUEUE_SIZE = Gauge(
    "tasklogs_exporter_queue_size",
    "Log records waiting for an exporter (in memory, or pending in the ingest stream).",
    ["exporter"],
    registry=REGISTRY,
)
EXPORTER_QUEUE_CAPACITY = Gauge(
    "tasklogs_exporter_queue_capacity",
    "Capacity of an exporter's queue in log records.",
    ["exporter"],
    registry=REGISTRY,
)
BATCH_SEND_SIZE = Histogram(
    "tasklogs_processor_batch_batch_send_size",
    "Log records per batch pushed to an exporter.",
    ["exporter"],
    buckets=(1, 10, 100, 512, 1024, 4096, 8192, 16384, 32768, 65536, 131072),
    registry=REGISTRY,
)
EXPORTER_LAG = Histogram(
    "tasklogs_exporter_lag_seconds",
    "Seconds from a request's arrival at the receiver to its write by an exporter.",
    ["exporter"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
EXPORTER_QUEUE_ENTRIES = Gauge(
    "tasklogs_exporter_queue_entries",
    "Export requests in an ingest stream an exporter's group has not acknowledged "
    "(not yet delivered plus pending).",
    ["exporter", "stream"],
    registry=REGISTRY,
)
INGEST_BACKLOG = Gauge(
    "tasklogs_ingest_backlog_entries",
    "Export requests in an ingest stream not yet acknowledged by every exporter.",
    ["stream"],
    registry=REGISTRY,
)
INGEST_BACKLOG_CAPACITY = Gauge(
    "tasklogs_ingest_backlog_capacity_entries",
    "Backlog bound of an ingest stream; receivers refuse past it.",
    ["stream"],
    registry=REGISTRY,
)
