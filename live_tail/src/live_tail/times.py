"""Times on the read API: RFC 3339 strings with nanoseconds (UTC, ``Z``) both ways."""

from __future__ import annotations

import re
from datetime import UTC, datetime

__all__ = ["parse_time", "rfc3339"]

_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})$"
)


def rfc3339(ns: int) -> str:
    """``ns`` (Unix nanoseconds) as ``YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ``."""
    seconds, frac = divmod(ns, 1_000_000_000)
    head = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{head}.{frac:09d}Z"


def parse_time(text: str) -> int:
    """RFC 3339 (fractions to the nanosecond) or integer Unix nanoseconds -> ns.

    Raises :class:`ValueError` with a message fit for a 400 answer.
    """
    value = text.strip()
    if value.isdigit():
        return int(value)
    m = _RFC3339.fullmatch(value)
    if m is None:
        raise ValueError(
            f"{text!r} is not a time: use RFC 3339 (2026-01-02T03:04:05.123456789Z) "
            "or Unix nanoseconds"
        )
    zone = "+00:00" if m.group(4) in ("Z", "z") else m.group(4)
    try:
        base = datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}{zone}")
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid time: {exc}") from exc
    frac = int((m.group(3) or "0").ljust(9, "0"))
    return int(base.timestamp()) * 1_000_000_000 + frac
