"""Decode an accepted request once for every consumer in this process that takes it.

The store and the live tail both take each request; decoding the protobuf is the costly
part, copying the decoded columns is ~100x cheaper. The first consumer to take an entry
decodes it and keeps the result for the others, within a bound on the records held:
when one consumer lags (a store that is down), the entries waiting for it would
otherwise each hold a decoded copy, several times the request's size. Past the bound the
lagging consumer decodes for itself, as it would without sharing.

Two ways in, one bound (``records``):

- :meth:`SharedDecode.take`, the in-process queue: the decoded batch rides on the
  :class:`~collector_service.pipeline.entry.IngestEntry` that every runner holds, and
  the last of its ``consumers`` lets go of it; an entry past the bound is not kept.
- :meth:`SharedDecode.take_keyed`, the Redis stream consumers of one
  :class:`~collector_service.stream.consumer.RedisWriters`: the batch is kept under a
  key (stream, entry id) until ``sharers`` consumers took it. A consumer of another
  process may take an entry in place of one of ours, so a key may never be taken by
  all: the oldest keys are let go first when the bound is reached, and a consumer that
  comes after its key was let go decodes for itself. Concurrent takers of one key wait
  for the one decoding it rather than decode it again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from collector_service.component.decode import decode_request
from collector_service.component.model import LogBatch

if TYPE_CHECKING:
    from collector_service.pipeline.entry import IngestEntry

__all__ = ["SharedDecode"]

#: Keys remembered as let go early (a few bytes each; entries, not records).
_MAX_GONE = 65_536


@dataclass(slots=True, eq=False)
class _Slot:
    records: int
    sharers: int
    taken: int = 0
    batch: LogBatch | None = None
    ready: threading.Event = field(default_factory=threading.Event)


class SharedDecode:
    """Decoded entries kept for the consumers that have not taken them yet, bounded."""

    def __init__(self, max_records: int = 100_000) -> None:
        self.max_records = max_records
        #: Records held decoded right now (reserved while being decoded, keyed path).
        self.records = 0
        #: Decodes done by the keyed path (a consumer that found nothing to share).
        self.decodes = 0
        self._lock = threading.Lock()
        self._slots: OrderedDict[Hashable, _Slot] = OrderedDict()
        #: Keys let go before every taker came, with how many takers are still to come
        #: (so a late taker does not keep a copy nobody else will take); bounded.
        self._gone: OrderedDict[Hashable, int] = OrderedDict()

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

    def take_keyed(
        self, key: Hashable, sharers: int, records: int, decode: Callable[[], LogBatch]
    ) -> LogBatch:
        """The batch ``decode()`` gives, decoded once for ``sharers`` takers of ``key``.

        Thread-safe. An exception from ``decode`` propagates to its caller; the others
        waiting for that key then decode for themselves.
        """
        if sharers <= 1:
            return self._decode(decode)
        mine = False
        with self._lock:
            slot = self._slots.get(key)
            if slot is None and (left := self._gone.pop(key, None)) is not None:
                if left > 1:  # let go early: decode for ourselves, keep nothing
                    self._gone[key] = left - 1
            elif slot is None and not self._make_room(records):
                self._forget(key, sharers - 1)  # past the bound: nobody keeps it
            elif slot is None:
                mine = True
                slot = self._slots[key] = _Slot(records, sharers)
                self.records += records
            if slot is not None:
                slot.taken += 1
                if slot.taken >= slot.sharers and self._slots.get(key) is slot:
                    self._drop(key, slot)
        if slot is None:  # past the bound: decode for ourselves, keep nothing
            return self._decode(decode)
        if mine:
            try:
                slot.batch = self._decode(decode)
            finally:
                slot.ready.set()
                if slot.batch is None:  # failed: the others decode for themselves
                    with self._lock:
                        if self._slots.get(key) is slot:
                            self._drop(key, slot)
            return slot.batch
        slot.ready.wait()
        return slot.batch if slot.batch is not None else self._decode(decode)

    def held(self) -> int:
        """Keys held for consumers that have not taken them yet (keyed path)."""
        with self._lock:
            return len(self._slots)

    def _decode(self, decode: Callable[[], LogBatch]) -> LogBatch:
        with self._lock:
            self.decodes += 1
        return decode()

    def _make_room(self, records: int) -> bool:
        """Let the oldest keys go until ``records`` more fit the bound (lock held)."""
        if records > self.max_records:
            return False
        while self._slots and self.records + records > self.max_records:
            key, slot = next(iter(self._slots.items()))
            self._drop(key, slot)
        return self.records + records <= self.max_records

    def _drop(self, key: Hashable, slot: _Slot) -> None:
        del self._slots[key]
        self.records -= slot.records
        if slot.taken < slot.sharers:  # let go early: remember who is still to come
            self._forget(key, slot.sharers - slot.taken)

    def _forget(self, key: Hashable, takers: int) -> None:
        self._gone[key] = takers
        while len(self._gone) > _MAX_GONE:
            self._gone.popitem(last=False)
