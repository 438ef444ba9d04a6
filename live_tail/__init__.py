"""Live tail and the HTTP API: history endpoints today; the live bus and SSE build on them.

:func:`create_app` builds the FastAPI application that ``tasklogs serve`` runs beside
the receiver (and that can run on its own).
"""

from __future__ import annotations

from live_tail.app import create_app

__all__ = ["create_app"]
