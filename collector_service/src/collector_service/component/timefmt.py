"""Timestamps as text: RFC 3339 in UTC to the nanosecond, exactly (no float on the way).

One formatter for every text a user reads (downloads, ``tasklogs logs``, the read API),
so the same record prints the same time everywhere (docs/read-api.md: "Times are RFC
3339 strings with nanoseconds (UTC, ``Z``)").
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["rfc3339_ns"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def rfc3339_ns(ns: int) -> str:
    """``ns`` nanoseconds since the Unix epoch as ``YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ``."""
    seconds, frac = divmod(ns, 1_000_000_000)
    try:
        moment = _EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        return str(ns)  # beyond year 9999: the integer itself, never a wrong date
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{frac:09d}Z"
