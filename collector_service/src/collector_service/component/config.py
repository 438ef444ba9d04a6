"""Config building blocks every component uses: strict models, durations, endpoints."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
)

__all__ = ["Duration", "StrictModel", "check_endpoint", "format_validation", "parse_duration"]


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: object) -> object:
    """Go-style durations as the Collector writes them: ``168h``, ``1h30m``, ``90s``, ``7d``.

    Numbers are seconds; anything that is not a string is left to pydantic.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if not isinstance(value, str):
        return value
    text = value.strip()
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if not text or pos != len(text):
        raise ValueError(f"invalid duration {value!r}: use e.g. 168h, 1h30m, 90s or 7d")
    return timedelta(seconds=total)


#: A duration field that accepts ``168h``-style strings or seconds.
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_endpoint(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"endpoint must be HOST:PORT, got {value!r}")
    return value


def format_validation(
    exc: ValidationError, prefix: str = "", sources: Mapping[str, str] | None = None
) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in (*([prefix] if prefix else []), *err["loc"]))
        msg = f"{loc or '<root>'}: {err['msg']}"
        for key, var in (sources or {}).items():
            if loc == key or loc.startswith(key + ".") or key.startswith(loc + "."):
                msg += f" (set by {var})"
                break
        parts.append(msg)
    return "; ".join(parts)
