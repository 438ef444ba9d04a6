"""Reading a task run's history straight from the store, when no service answers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from collector_service.component.exporter import resolve_exporters
from collector_service.component.store import Cursor, HistoryQuery, LogStore
from collector_service.errors import StoreBusyError, StoreError
from collector_service.service.config import Config

if TYPE_CHECKING:
    from collector_service.service.host import ServiceHost

__all__ = ["from_store"]

_PAGE = 5000


def from_store(config: Config, task_run_id: str, api: str) -> Iterator[dict[str, Any]]:
    """Every stored record of ``task_run_id`` in order, as the API would give them."""
    host, store = _open_store(config, api)
    try:
        after: Cursor | None = None
        while True:
            page = store.query(HistoryQuery(task_run_id=task_run_id, after=after, limit=_PAGE))
            for rec in page.records:
                yield {**asdict(rec), "cursor": rec.cursor.encode()}
            if page.next_cursor is None:
                return
            after = page.next_cursor
    finally:
        host.stop_exporters()


def _open_store(config: Config, api: str) -> tuple[ServiceHost, LogStore]:
    """Start the store that answers history (:meth:`ServiceHost.history_store`), for reading."""
    from collector_service.service.host import ServiceHost

    host = ServiceHost.from_config(config)
    try:
        store = host.start_history_store(resolve_exporters(config, host=host))
    except StoreBusyError as exc:
        raise StoreError(f"no tasklogs service answers at {api}, and {exc}") from exc
    if store is None:
        raise StoreError("no configured exporter can answer history queries")
    return host, store
