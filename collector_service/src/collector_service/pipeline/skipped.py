"""What best-effort exporters (the live tail) skipped rather than hold up ingestion.

A best-effort exporter never makes receivers refuse: in process, a request its full
queue cannot take is skipped for it alone; on Redis, entries its lagging consumer group
has not read are trimmed with the durable backlog. Both are counted here, per exporter.
"""

from __future__ import annotations

from prometheus_client import Counter

from collector_service.metrics import REGISTRY

__all__ = ["EXPORTER_SKIPPED", "EXPORTER_SKIPPED_ENTRIES", "count_skipped_entries"]

EXPORTER_SKIPPED = Counter(
    "tasklogs_exporter_skipped_log_records",
    "Log records a best-effort exporter (the live tail) skipped because its in-process "
    "queue was full; receivers accepted them for the other exporters.",
    ["exporter"],
    registry=REGISTRY,
)
EXPORTER_SKIPPED_ENTRIES = Counter(
    "tasklogs_exporter_skipped_entries",
    "Ingest stream entries (Export requests) trimmed before a lagging best-effort "
    "exporter's consumer group read them.",
    ["exporter"],
    registry=REGISTRY,
)


def count_skipped_entries(exporter: str, entries: int) -> None:
    EXPORTER_SKIPPED_ENTRIES.labels(exporter).inc(entries)
