"""Which lines to show: the filters sent to the API, and the same ones applied again here.

The API filters where it can (so a filtered 10-million-line history does not cross the
wire); the CLI applies every filter again to what arrives, so the output is right even
where a server or stream lacks one (``--task`` with several names, ``--since`` live).
"""

from __future__ import annotations

import re

from collector_service.cli.logs._lines import Line, iso_ns
from collector_service.cli.logs._options import Options

__all__ = ["Selection"]


def _any_of(patterns: list[re.Pattern[str]]) -> str | None:
    """One regex matching where any of them does (``(a)|(b)``: RE2 and POSIX ERE alike)."""
    if not patterns:
        return None
    if len(patterns) == 1:
        return patterns[0].pattern
    return "|".join(f"({p.pattern})" for p in patterns)


class Selection:
    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self._tasks = set(opts.tasks)
        #: With ``--failed``: the task runs known to have failed (grows as tasks end).
        self.failed_ids: set[str] = set()

    def stream_params(self) -> dict[str, str | int | list[str]]:
        """The filters a live stream takes (the same as history's, minus time)."""
        o = self.opts
        params: dict[str, str | int | list[str]] = {}
        if o.level:
            params["min_severity"] = o.level
        include = _any_of(o.include) or (o.grep.pattern if o.grep else None)
        if include:
            params["include"] = include
        exclude = _any_of(o.exclude)
        if exclude:
            params["exclude"] = exclude
        if len(o.tasks) == 1:
            params["task_name"] = o.tasks[0]
        return params

    def history_params(self) -> dict[str, str | int | list[str]]:
        o = self.opts
        params = self.stream_params()
        if o.level:
            params["level"] = o.level
        if o.tasks:
            params["task"] = list(o.tasks)
        if o.since_ns is not None:
            params["since"] = iso_ns(o.since_ns)
        if o.until_ns is not None:
            params["until"] = iso_ns(o.until_ns)
        return params

    def keep(self, line: Line) -> bool:
        o = self.opts
        ts = line.timestamp_ns
        if (o.since_ns is not None and ts < o.since_ns) or (
            o.until_ns is not None and ts >= o.until_ns
        ):
            return False
        if (o.level and line.severity_number < o.level) or (
            self._tasks and line.task_name not in self._tasks
        ):
            return False
        if o.failed and line.task_run_id not in self.failed_ids:
            return False
        body = line.body
        if o.grep is not None and o.grep.search(body) is None:
            return False
        if o.include and not any(p.search(body) for p in o.include):
            return False
        return not any(p.search(body) for p in o.exclude)
