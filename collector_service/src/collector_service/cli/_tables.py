"""What ``tasklogs runs`` and ``tasklogs tasks`` share: statuses, durations, ages, tables,
and ``--watch`` (redraw until the run is over)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from rich import box
from rich.console import Console, RenderableType
from rich.live import Live
from rich.table import Table

__all__ = [
    "FINAL",
    "age",
    "duration",
    "print_json",
    "show_once",
    "status_text",
    "table",
    "table_console",
    "watch",
]

FINAL = frozenset({"succeeded", "failed", "cancelled"})
_STATUS = {
    "succeeded": ("✓", "green"),
    "failed": ("✗", "bold red"),
    "cancelled": ("-", "yellow"),
    "running": ("●", "cyan"),
    "unknown": ("?", "dim"),
}


def table_console(file: TextIO, color: str) -> Console:
    """A console for tables: wide enough for whole ids when output is not a terminal."""
    kwargs: dict[str, Any] = {"file": file, "highlight": False}
    if color == "never":
        kwargs.update(color_system=None, no_color=True)
    elif color == "always":
        kwargs.update(force_terminal=True)
    console = Console(**kwargs)
    if not console.is_terminal:
        console = Console(**kwargs, width=250)
    return console


def status_text(status: str) -> str:
    mark, style = _STATUS.get(status, ("?", "dim"))
    return f"[{style}]{mark} {status}[/]"


def duration(ms: float | None) -> str:
    if ms is None:
        return "-"
    s = ms / 1000
    if s < 60:
        return f"{s:.1f}s"
    m, s = divmod(int(s), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def age(ns: int | None) -> str:
    if not ns:
        return "-"
    s = max(0, (time.time_ns() - ns) // 1_000_000_000)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit} ago"
    return f"{s}s ago"


def table(*columns: str) -> Table:
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, header_style="bold")
    for name in columns:
        t.add_column(name, no_wrap=True, overflow="fold")
    return t


def print_json(out: TextIO, value: Any) -> None:
    out.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")


def watch(
    console: Console,
    render: Callable[[], tuple[RenderableType, str]],
    *,
    interval: float,
    until_final: bool,
) -> str:
    """Redraw ``render()`` (a renderable and the status it shows) every ``interval`` s;
    stop when the status is final (``until_final``) or on Ctrl-C; return the status.
    Not on a terminal, each change is printed once, so a log or a pipe sees every step."""
    body, status = render()
    if not console.is_terminal:
        last = ""
        while True:
            with console.capture() as cap:
                console.print(body)
            text = cap.get()
            if text != last:
                console.file.write(text)
                console.file.flush()
                last = text
            if until_final and status in FINAL:
                return status
            time.sleep(interval)
            body, status = render()
    with Live(body, console=console, refresh_per_second=4, auto_refresh=False) as live:
        while not (until_final and status in FINAL):
            time.sleep(interval)
            body, status = render()
            live.update(body, refresh=True)
    return status


def show_once(
    args: argparse.Namespace, fetch: Callable[[], Any], render: Callable[[Any], RenderableType]
) -> Console | None:
    """Print ``fetch()`` as JSON (``--output json``) or as one table and return ``None``;
    with ``--watch`` print nothing and return the console to watch on."""
    if args.output == "json":
        print_json(sys.stdout, fetch())
        return None
    console = table_console(sys.stdout, args.color)
    if not args.watch:
        console.print(render(fetch()))
        return None
    return console
