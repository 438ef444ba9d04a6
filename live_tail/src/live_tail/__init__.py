"""Live tail: the live bus, SSE streams, history and downloads, as a tasklogs extension.

:mod:`live_tail.extension` is the ``live_tail`` extension (entry point in
``tasklogs.extensions``): it builds the bus and adds its routes and metrics to the host;
:mod:`live_tail.exporter` is the ``live_tail`` publisher (``tasklogs.exporters``).
:func:`create_app` builds the API over a given store and bus directly (tests,
embedding). Imported lazily: importing this package costs nothing.
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
