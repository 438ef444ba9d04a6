"""Ingest stream entries as the writers read them, and their decode into one batch.

Every consumer of a stream in one process (one consumer group per exporter) reads the
same entries; with a :class:`~collector_service.pipeline.shared_decode.SharedDecode`
they decode each (stream, entry id) once between them, within its bound on the records
held. The batch's dedup token depends only on the stream and the entry ids.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from functools import partial

from collector_service.component.decode import decode_request, parse_request
from collector_service.component.model import LogBatch
from collector_service.pipeline.shared_decode import SharedDecode

__all__ = ["StreamEntry", "batch_token", "decode_entries", "parse_entry"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StreamEntry:
    id: str
    payload: bytes
    records: int
    received_ns: int
    tenant: str | None


def parse_entry(entry_id: bytes, fields: dict[bytes, bytes]) -> StreamEntry:
    tenant = fields.get(b"t")
    return StreamEntry(
        id=entry_id.decode(),
        payload=fields.get(b"p", b""),
        records=int(fields.get(b"n", 0)),
        received_ns=int(fields.get(b"ts", 0)),
        tenant=tenant.decode() if tenant is not None else None,
    )


def batch_token(stream: str, ids: list[str]) -> str:
    """The dedup token of a batch: the same entries always give the same token."""
    digest = hashlib.sha256(stream.encode())
    for entry_id in ids:
        digest.update(b"\0" + entry_id.encode())
    return digest.hexdigest()[:32]


def decode_entries(
    stream: str,
    entries: list[StreamEntry],
    shared: SharedDecode | None = None,
    sharers: int = 1,
) -> tuple[LogBatch, list[StreamEntry]]:
    """One column-wise batch of every decodable entry, and the entries that are not.

    With ``shared`` and more than one ``sharers`` (the consumers of ``stream`` in this
    process), each entry is decoded once for all of them.
    """
    batch = LogBatch(token=batch_token(stream, [e.id for e in entries]))
    bad = []
    for entry in entries:
        mark = len(batch)
        try:
            if shared is None or sharers <= 1:
                decode_request(parse_request(entry.payload), batch, entry.tenant)
            else:
                batch.extend(
                    shared.take_keyed(
                        (stream, entry.id),
                        sharers,
                        entry.records,
                        partial(_decode_one, entry),
                    )
                )
        except Exception:  # noqa: BLE001 - a poison entry is dead-lettered, never retried
            _log.exception("writer: entry %s cannot be decoded", entry.id)
            _truncate(batch, mark)
            bad.append(entry)
    return batch, bad


def _decode_one(entry: StreamEntry) -> LogBatch:
    return decode_request(parse_request(entry.payload), None, entry.tenant)


def _truncate(batch: LogBatch, length: int) -> None:
    """Drop what a failed decode appended part-way (columns stay the same length)."""
    for column in batch.columns():
        del column[length:]
