"""The live part of a follow: one SSE connection at a time, reconnected for ever.

A :class:`LiveReader` thread reads ``log``/``gap``/``end`` events and hands them to the
command through a bounded queue (a slow terminal slows the socket, not memory). When
the connection drops, the service restarts, or nothing (not even a heartbeat) arrives
for ``read_timeout`` seconds, it reconnects with exponential backoff and
``Last-Event-ID`` set to the last event it received, so the service continues exactly
there. Only a refused token or a bad request ends it.
"""

from __future__ import annotations

import json
import queue
import random
import threading
from dataclasses import dataclass
from typing import Any

from httpx_sse import EventSource, SSEError

from collector_service.cli._api import Api, Params
from collector_service.errors import ApiAuthError, ApiError, ApiNotFoundError

__all__ = ["Event", "LiveReader"]

_FIRST_DELAY = 0.25
_MAX_DELAY = 8.0


@dataclass(frozen=True, slots=True)
class Event:
    """``log``, ``gap``, ``end``; ``notice`` (a message for stderr); ``fatal`` (an
    :class:`ApiError` that reconnecting cannot fix)."""

    kind: str
    data: dict[str, Any]
    id: str = ""
    error: ApiError | None = None


class LiveReader(threading.Thread):
    def __init__(
        self,
        api: Api,
        path: str,
        params: Params,
        start_id: str | None,
        events: queue.Queue[Event],
        *,
        read_timeout: float = 60.0,
        stop_on_end: bool = False,
    ) -> None:
        super().__init__(name="tasklogs-live", daemon=True)
        self.api = api
        self.path = path
        self.params = params
        self.last_id = start_id
        self.events = events
        self.read_timeout = read_timeout
        self.stop_on_end = stop_on_end
        self._stop = threading.Event()
        self._received = 0

    def stop(self) -> None:
        self._stop.set()

    def _put(self, event: Event) -> None:
        while not self._stop.is_set():
            try:
                self.events.put(event, timeout=0.5)
                return
            except queue.Full:
                continue

    def run(self) -> None:
        delay = _FIRST_DELAY
        lost = False
        while not self._stop.is_set():
            before = self._received
            try:
                if self._connect(lost):
                    return
                reason = "the service closed the stream"
            except (ApiAuthError, ApiNotFoundError) as exc:
                self._put(Event("fatal", {}, error=exc))
                return
            except ApiError as exc:
                reason = str(exc)
            except SSEError as exc:
                reason = f"not an event stream: {exc}"
            lost = True
            if self._received > before:
                delay = _FIRST_DELAY  # it was working: start the backoff afresh
            wait = delay * (1 + random.random() / 4)  # noqa: S311 - jitter, not crypto
            where = f" after event {self.last_id}" if self.last_id else ""
            self._put(Event("notice", {"message": f"{reason}; reconnecting in {wait:.1f}s{where}"}))
            if self._stop.wait(wait):
                return
            delay = min(delay * 2, _MAX_DELAY)

    def _connect(self, reconnecting: bool) -> bool:
        """One connection; True when the stream ended for good (``end`` of a task)."""
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
        if self.last_id:
            headers["Last-Event-ID"] = self.last_id
        with self.api.stream(
            self.path, self.params, headers, read_timeout=self.read_timeout
        ) as resp:
            if reconnecting:
                self._put(Event("notice", {"message": "reconnected"}))
            for sse in EventSource(resp).iter_sse():
                if self._stop.is_set():
                    return True
                if not sse.event or not sse.data:
                    continue  # a heartbeat, or retry: alone
                data = json.loads(sse.data)
                self._received += 1
                if sse.event in ("log", "end") and sse.id:
                    self.last_id = sse.id
                self._put(Event(sse.event, data, sse.id))
                if sse.event == "end" and self.stop_on_end:
                    return True
        return False
