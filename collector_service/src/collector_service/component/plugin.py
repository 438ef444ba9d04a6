"""One loader for every plugin group: entry points checked against a factory contract.

Exporters (``tasklogs.exporters``) and extensions (``tasklogs.extensions``) are found the
same way and held to the same checks when loaded: the entry point loads, the object is a
factory of the group's protocol, its ``config_model`` is a pydantic model and its
``type_name`` is the entry point's name. Anything else is a clear
:class:`~collector_service.errors.ConfigError` naming the plugin.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from pydantic import BaseModel

from collector_service.errors import ConfigError

__all__ = ["load_plugins"]


def load_plugins(group: str, kind: str, protocol: Any) -> dict[str, Any]:
    """Every factory installed in entry-point ``group``, by type name.

    ``kind`` names the plugin in errors (``exporter``, ``extension``); ``protocol`` is the
    runtime-checkable factory protocol each loaded object must satisfy (a protocol class
    is not a concrete ``type[...]`` to mypy, hence ``Any``; callers type the result).
    """
    factories: dict[str, Any] = {}
    for ep in entry_points(group=group):
        try:
            factory = ep.load()
        except Exception as exc:
            raise ConfigError(
                f"{kind} plugin {ep.name!r} ({ep.value}) failed to load: {exc}"
            ) from exc
        if not isinstance(factory, protocol) or not (
            isinstance(factory.config_model, type) and issubclass(factory.config_model, BaseModel)
        ):
            raise ConfigError(
                f"{kind} plugin {ep.name!r} ({ep.value}) is not a {protocol.__name__} "
                "(needs type_name, a pydantic config_model and create())"
            )
        if factory.type_name != ep.name:
            raise ConfigError(
                f"{kind} plugin {ep.name!r} declares type_name {factory.type_name!r}; "
                "they must match"
            )
        factories[ep.name] = factory
    return factories
