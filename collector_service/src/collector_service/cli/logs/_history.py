"""Stored history through the API: forward pages from a cursor, or the newest N lines."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from collector_service.cli._api import Api, Params, quoted
from collector_service.cli.logs._lines import Line

__all__ = ["PAGE", "Target", "forward", "newest"]

PAGE = 5000


@dataclass(frozen=True, slots=True)
class Target:
    """A task run (``kind="task"``) or a pipeline run (``kind="run"``)."""

    kind: str
    id: str

    @property
    def base(self) -> str:
        return f"/api/v1/{'tasks' if self.kind == 'task' else 'runs'}/{quoted(self.id)}"

    @property
    def what(self) -> str:
        return f"task run {self.id}" if self.kind == "task" else f"pipeline run {self.id}"


def _page(api: Api, target: Target, params: Params) -> dict[str, Any]:
    page: dict[str, Any] = api.get(f"{target.base}/logs", params)
    return page


def forward(api: Api, target: Target, params: Params, after: str | None) -> Iterator[Line]:
    """Every stored line after ``after`` (from the first when None), page by page."""
    cursor = after
    while True:
        query: dict[str, Any] = {**params, "limit": PAGE}
        if cursor:
            query["cursor"] = cursor
        page = _page(api, target, query)
        for rec in page["records"]:
            yield Line.from_record(rec)
        cursor = page.get("next_cursor")
        if not cursor:
            return


def newest(api: Api, target: Target, params: Params, count: int) -> list[Line]:
    """The newest ``count`` stored lines (at least one is asked for, even for 0: the
    caller needs the position of the end), oldest first."""
    want = max(count, 1)
    page = _page(api, target, {**params, "tail": want, "limit": min(want, 10_000)})
    if "prev_cursor" not in page:
        # A server without ``tail``: read everything and keep the end.
        keep: deque[Line] = deque(maxlen=want)
        keep.extend(Line.from_record(r) for r in page["records"])
        if page.get("next_cursor"):
            keep.extend(forward(api, target, params, page["next_cursor"]))
        return list(keep)
    lines = [Line.from_record(r) for r in page["records"]]
    before = page.get("prev_cursor")
    while len(lines) < want and before:
        query = {**params, "before": before, "limit": min(want - len(lines), 10_000)}
        older = _page(api, target, query)
        if not older["records"]:
            break
        lines[:0] = [Line.from_record(r) for r in older["records"]]
        before = older.get("prev_cursor")
    return lines[-want:]
