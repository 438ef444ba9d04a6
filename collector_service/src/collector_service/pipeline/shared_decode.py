"""Decode an accepted request once for every in-process runner that takes it.

The store and the live tail both take each request; decoding the protobuf is the costly
part, copying the decoded columns is ~100x cheaper. The first runner to take an entry
decodes it and keeps the result on the entry for the others, within a bound: when one
runner lags (a store that is down fills its queue), the entries waiting for it would
otherwise each hold a decoded copy, several times the request's size. Past the bound the
lagging runner decodes for itself, as it would without sharing.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from collector_service.component.decode import decode_request
from collector_service.component.model import LogBatch

if TYPE_CHECKING:
    from collector_service.pipeline.entry import IngestEntry

__all__ = ["SharedDecode"]


class SharedDecode:
    """Decoded entries kept for the runners that have not taken them yet, bounded."""

    def __init__(self, max_records: int = 100_000) -> None:
        self.max_records = max_records
        #: Records held decoded on entries right now.
        self.records = 0
        self._lock = threading.Lock()

    def take(self, entry: IngestEntry) -> LogBatch:
        """``entry`` decoded, for one of its ``entry.consumers`` runners (thread-safe)."""
        with self._lock:
            entry.taken += 1
            last = entry.taken >= entry.consumers
            part = entry.decoded
            if part is not None and last:
                entry.decoded = None
                self.records -= entry.records
        if part is not None:
            return part
        part = decode_request(entry.request, None, entry.tenant)
        if not last:
            with self._lock:
                if entry.decoded is None and self.records + entry.records <= self.max_records:
                    entry.decoded = part
                    self.records += entry.records
        return part
