"""What a thousand followers of one Redis stream share in one process: its reads and
its decoded entries.

The reader's one ``XREAD`` already hands the same :class:`~live_tail.bus.Entry` to
every subscription. Catching up is the other half: when a task appears (or a popular
task is opened), every waiting client subscribes at once and reads the stream back
(``XREVRANGE`` / ``XRANGE``). One read per client, each decoding the same entries
again, made the Redis bus degrade past ~150-200 clients. Here:

* identical range reads in flight at once run once (single flight): clients that
  subscribed between two reader passes ask for exactly the same range;
* an entry is decoded once per process (:meth:`SharedReads.entry`, keyed by stream and
  id), whether it came from ``XREAD`` or a range read, so every client holds the same
  object, and :class:`~live_tail.fanout.SharedEvents` formats its SSE bytes once.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from live_tail.bus import Entry
from live_tail.model import Chunk, parse_entry_id

__all__ = ["SharedReads"]

_DATA = b"d"


class SharedReads:
    """Decoded entries (the most recent ``max_lines`` lines' worth) and reads in flight."""

    def __init__(self, max_lines: int = 100_000) -> None:
        self._entries: OrderedDict[tuple[str, str], Entry] = OrderedDict()
        self._lines = 0
        self._max_lines = max_lines
        self._inflight: dict[tuple[object, ...], asyncio.Future[Any]] = {}
        #: Range reads sent to Redis (the rest joined one in flight): for tests, metrics.
        self.reads = 0
        #: Entries decoded (the rest were found decoded already).
        self.decoded = 0

    def entry(self, key: str, raw_id: bytes | str, fields: dict[bytes, bytes]) -> Entry:
        """The stream ``key``'s entry ``raw_id``, decoded once per process."""
        text = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
        found = self._entries.get((key, text))
        if found is not None:
            self._entries.move_to_end((key, text))
            return found
        made = Entry(text, parse_entry_id(text), Chunk.decode(fields[_DATA]))
        self.decoded += 1
        self._entries[(key, text)] = made
        self._lines += len(made.chunk.lines)
        while self._lines > self._max_lines and len(self._entries) > 1:
            _, old = self._entries.popitem(last=False)
            self._lines -= len(old.chunk.lines)
        return made

    async def once(self, call: tuple[object, ...], run: Callable[[], Awaitable[Any]]) -> Any:
        """``run()``, or the result of the identical ``call`` already in flight.

        Shielded: a client that disconnects does not cancel the others' read.
        """
        fut = self._inflight.get(call)
        if fut is None:
            self.reads += 1
            fut = asyncio.ensure_future(run())
            self._inflight[call] = fut
            fut.add_done_callback(lambda f: self._landed(call, f))
        return await asyncio.shield(fut)

    def _landed(self, call: tuple[object, ...], fut: asyncio.Future[Any]) -> None:
        if self._inflight.get(call) is fut:
            del self._inflight[call]
        if not fut.cancelled():
            fut.exception()  # retrieved: every waiter may have gone
