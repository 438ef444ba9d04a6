"""``tasklogs deadletter replay``: write dead letters again through their exporter.

Each dead letter (one raw Export request) becomes one batch whose dedup token is derived
from its content (exporter, tenant, payload), so replaying twice, or after a crash
between the write and the removal, stores it once (ClickHouse
``insert_deduplication_token``, the PostgreSQL batch ledger). A dead letter is removed
only after its write succeeded. The first retryable failure (the store is still down or
full) stops the replay of that exporter, leaving the rest for the next run; a permanent
failure keeps that dead letter and goes on with the next.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from collector_service.component.decode import decode_request
from collector_service.component.exporter import Exporter
from collector_service.component.model import LogBatch
from collector_service.errors import PermanentExportError, RetryableExportError
from collector_service.pipeline.deadletter import DeadLetterRecord, DeadLetters

__all__ = ["ReplayResult", "replay", "replay_token"]

#: ``progress(exporter, done, total)`` after each dead letter.
Progress = Callable[[str, int, int], None]


@dataclass(slots=True)
class ReplayResult:
    """What one exporter's replay did."""

    exporter: str
    total: int = 0
    replayed: int = 0
    records: int = 0
    #: Dead letters kept: (id, reason).
    kept: list[tuple[str, str]] = field(default_factory=list)
    #: Set when a retryable failure stopped the replay (the store still cannot write).
    stopped: str | None = None
    seconds: float = 0.0


def replay_token(exporter: str, record: DeadLetterRecord) -> str:
    """The dedup token of a dead letter: the same request always gets the same one."""
    digest = hashlib.sha256()
    for part in (exporter.encode(), (record.tenant or "").encode(), record.payload):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return f"deadletter:{digest.hexdigest()[:40]}"


def _batch(exporter: str, record: DeadLetterRecord) -> LogBatch:
    request = ExportLogsServiceRequest.FromString(record.payload)
    return decode_request(request, LogBatch(token=replay_token(exporter, record)), record.tenant)


def replay(
    name: str,
    exporter: Exporter,
    letters: DeadLetters,
    *,
    keep: bool = False,
    progress: Progress | None = None,
) -> ReplayResult:
    """Write every dead letter of ``name`` through the started ``exporter``; remove each
    written one unless ``keep``."""
    started = time.monotonic()
    records = letters.list(name, None)
    result = ReplayResult(name, total=len(records))
    written: list[str] = []
    for number, record in enumerate(records, start=1):
        try:
            batch = _batch(name, record)
            exporter.push(batch)
        except RetryableExportError as exc:
            result.stopped = str(exc)
            break
        except (PermanentExportError, ValueError) as exc:
            result.kept.append((record.id, str(exc)))
        except Exception as exc:  # noqa: BLE001 - a decode error keeps that one only
            result.kept.append((record.id, f"{type(exc).__name__}: {exc}"))
        else:
            written.append(record.id)
            result.replayed += 1
            result.records += len(batch)
        if progress is not None:
            progress(name, number, len(records))
    if not keep:
        letters.remove(name, written)
    result.seconds = time.monotonic() - started
    return result
