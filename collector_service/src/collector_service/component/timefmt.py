"""Records as text: RFC 3339 times in UTC to the nanosecond, exactly (no float on the
way), and the one text line format of a record.

One formatter for every text a user reads (downloads, ``tasklogs logs``, the read API),
so the same record prints the same everywhere (docs/read-api.md: "Times are RFC 3339
strings with nanoseconds (UTC, ``Z``)"). In a text line, a multi-line body's continuation
lines are indented to the body's column, so every line at column 0 starts a record.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["rfc3339_ns", "text_line"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def rfc3339_ns(ns: int) -> str:
    """``ns`` nanoseconds since the Unix epoch as ``YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ``."""
    seconds, frac = divmod(ns, 1_000_000_000)
    try:
        moment = _EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        return str(ns)  # beyond year 9999: the integer itself, never a wrong date
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{frac:09d}Z"


def text_line(timestamp_ns: int, severity_text: str, body: str, prefix: str = "") -> str:
    """``<time> <prefix><severity:5> <body>\\n``; continuation lines of ``body`` indented."""
    head = f"{rfc3339_ns(timestamp_ns)} {prefix}{severity_text:<5} "
    if "\n" in body or "\r" in body:
        indent = "\n" + " " * len(head)
        body = indent.join(body.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return f"{head}{body}\n"
