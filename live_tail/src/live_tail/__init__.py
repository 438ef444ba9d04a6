"""Live tail and the HTTP API: the live bus, SSE streams, history and downloads.

:func:`create_app` builds the FastAPI application that ``tasklogs serve`` runs beside
the receiver (and that can run on its own). Imported lazily: :mod:`collector_service.config`
imports :mod:`live_tail.config`, and the app imports the config back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from live_tail.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from live_tail.app import create_app

        return create_app
    raise AttributeError(name)
