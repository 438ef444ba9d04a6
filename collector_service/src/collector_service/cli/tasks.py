"""``tasklogs tasks RUN_ID``: a pipeline run and each of its task runs (like ``gh run view``)."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from collector_service.cli import _tables as t
from collector_service.cli._api import Api, ApiSettings, api_args, quoted

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "tasks",
        help="show a pipeline run's tasks: status, exit code, duration, lines, errors",
        description="A pipeline run and each of its task runs (like `gh run view`). With "
        "--watch, redraw until the run is over and exit with its result.",
    )
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("-o", "--output", choices=("text", "json"), default="text")
    p.add_argument(
        "-w", "--watch", action="store_true",
        help="redraw until the run ends; exit 0 if it succeeded, else 1",
    )  # fmt: skip
    p.add_argument("--interval", type=float, default=2.0, metavar="SECONDS")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    api_args(p)
    p.set_defaults(handler=run)


def render(view: dict[str, Any]) -> RenderableType:
    r = view["run"]
    head = Text.from_markup(
        f"{t.status_text(str(r.get('status')))}  [bold]{r.get('run_id')}[/]"
        f"  pipeline {r.get('pipeline_name') or '-'}  started {t.age(r.get('start_ns'))}"
        f"  duration {t.duration(r.get('duration_ms'))}  {r.get('task_count', 0)} tasks"
        f"  {r.get('line_count', 0)} lines  {r.get('error_count', 0)} errors"
    )
    table = t.table(
        "STATUS", "TASK", "TASK RUN", "ATTEMPT", "EXIT", "STARTED", "DURATION", "LINES",
        "ERRORS", "FIRST ERROR",
    )  # fmt: skip
    for task in view["tasks"]:
        errors = int(task.get("error_count") or 0)
        code = task.get("exit_code")
        first = task.get("first_error_seq")
        table.add_row(
            t.status_text(str(task.get("status"))),
            str(task.get("task_name") or "-"),
            str(task.get("task_run_id")),
            str(task.get("attempt") or "-"),
            "-" if code is None else (f"[red]{code}[/]" if code else "0"),
            t.age(task.get("start_ns")),
            t.duration(task.get("duration_ms")),
            str(task.get("line_count", 0)),
            f"[red]{errors}[/]" if errors else "0",
            "-" if first is None else f"seq {first}",
        )
    return Group(head, table)


def run(args: argparse.Namespace) -> int:
    with Api(ApiSettings.resolve(args)) as api:

        def fetch() -> dict[str, Any]:
            view: dict[str, Any] = api.get(f"/api/v1/runs/{quoted(args.run_id)}")
            return view

        console = t.show_once(args, fetch, render)
        if console is None:
            return 0

        def draw() -> tuple[RenderableType, str]:
            view = fetch()
            # "failed" as soon as one task fails: watch on while others still run.
            running = any(task.get("status") == "running" for task in view["tasks"])
            return render(view), "running" if running else str(view["run"].get("status"))

        try:
            status = t.watch(console, draw, interval=args.interval, until_final=True)
        except KeyboardInterrupt:
            return 130
        return 0 if status == "succeeded" else 1
