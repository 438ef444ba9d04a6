"""Where config values come from besides the YAML file: environment overrides and secrets.

Environment overrides (applied over the file, before validation)::

    TASKLOGS_RECEIVERS__OTLP__PROTOCOLS__GRPC__ENDPOINT=0.0.0.0:4317
    TASKLOGS_EXPORTERS__CLICKHOUSE__DSN=http://ch:8123

A variable is an override when the part after ``TASKLOGS_`` contains ``__``: each ``__``
separated segment, lower-cased, is one key of the path. A segment matches an existing key
case-insensitively with ``/`` spelled ``_`` (``EXPORTERS__CLICKHOUSE_MAIN`` reaches
``clickhouse/main``). Values are strings (pydantic converts numbers and booleans); a value
starting with ``[`` or ``{`` is read as a YAML flow list or mapping. Short aliases cover
the common settings (:data:`ALIASES`). Other ``TASKLOGS_*`` variables (``TASKLOGS_API_URL``,
``TASKLOGS_TASK_RUN_ID``...) belong to the command line and the SDK and are left alone.

Secrets, as in the OpenTelemetry Collector: any string value may contain ``${env:NAME}``
(optionally ``${env:NAME:-default}``) or ``${file:/path}`` (the file's content without its
trailing newline); ``$${`` is a literal ``${``. Expansion runs after the overrides, so an
override may itself name a secret file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from collector_service.errors import ConfigError

__all__ = ["ALIASES", "ENV_PREFIX", "apply_env_overrides", "expand_secrets"]

ENV_PREFIX = "TASKLOGS_"

#: Short names for the settings most often set from the environment.
ALIASES: Mapping[str, tuple[str, ...]] = {
    "TASKLOGS_REDIS_URL": ("redis", "url"),
    "TASKLOGS_API_ENDPOINT": ("api", "endpoint"),
    "TASKLOGS_GRPC_ENDPOINT": ("receivers", "otlp", "protocols", "grpc", "endpoint"),
    "TASKLOGS_HTTP_ENDPOINT": ("receivers", "otlp", "protocols", "http", "endpoint"),
}

_EXPANSION = re.compile(r"\$\$\{|\$\{(env|file):([^}]*)\}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _parse_value(text: str) -> Any:
    if text.lstrip()[:1] in ("[", "{"):
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"not a valid YAML flow value: {exc}") from exc
    return text


def _segment_key(mapping: dict[str, Any], segment: str) -> str:
    for key in mapping:
        if key.lower().replace("/", "_") == segment:
            return key
    return segment


def _set_path(raw: dict[str, Any], path: tuple[str, ...], value: Any, var: str) -> str:
    node = raw
    keys: list[str] = []
    for i, segment in enumerate(path):
        key = _segment_key(node, segment)
        keys.append(key)
        if i == len(path) - 1:
            node[key] = value
            break
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"{var}: config key {'.'.join(keys)} is not a mapping")
        node = child
    return ".".join(keys)


def apply_env_overrides(raw: dict[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    """Apply ``TASKLOGS_*`` overrides to ``raw`` in place.

    Returns ``{dotted config key: variable name}`` so validation errors can name the
    variable a bad value came from.
    """
    sources: dict[str, str] = {}
    for var in sorted(environ):
        if var in ALIASES:
            path = ALIASES[var]
        elif var.startswith(ENV_PREFIX) and "__" in var:
            path = tuple(var[len(ENV_PREFIX) :].lower().split("__"))
            if not all(path):
                raise ConfigError(f"{var}: empty key in the path (use __ between keys)")
        else:
            continue
        try:
            value = _parse_value(environ[var])
        except ConfigError as exc:
            raise ConfigError(f"{var}: {exc}") from exc
        sources[_set_path(raw, path, value, var)] = var
    return sources


def _expand_string(text: str, where: str, environ: Mapping[str, str]) -> str:
    def replace(m: re.Match[str]) -> str:
        if m.group(0) == "$${":
            return "${"
        kind, arg = m.group(1), m.group(2)
        if kind == "env":
            name, sep, default = arg.partition(":-")
            if not _ENV_NAME.fullmatch(name):
                raise ConfigError(f"{where}: invalid environment variable name {name!r}")
            value = environ.get(name)
            if value is None:
                if not sep:
                    raise ConfigError(f"{where}: environment variable {name} is not set")
                return default
            return value
        try:
            content = Path(arg).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read secret file {arg}: {exc.strerror}") from exc
        return content.removesuffix("\n").removesuffix("\r")

    return _EXPANSION.sub(replace, text)


def expand_secrets(node: Any, environ: Mapping[str, str], where: str = "") -> Any:
    """``node`` with ``${env:...}`` and ``${file:...}`` expanded in every string value."""
    if isinstance(node, str):
        return _expand_string(node, where or "<root>", environ) if "${" in node else node
    if isinstance(node, dict):
        return {
            k: expand_secrets(v, environ, f"{where}.{k}" if where else str(k))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [expand_secrets(v, environ, f"{where}[{i}]") for i, v in enumerate(node)]
    return node
