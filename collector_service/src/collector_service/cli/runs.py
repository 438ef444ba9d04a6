"""``tasklogs runs``: the recent pipeline runs, newest first (like ``gh run list``)."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from collector_service.cli import _tables as t
from collector_service.cli._api import Api, ApiSettings, api_args
from collector_service.cli.logs._lines import iso_ns
from collector_service.cli.logs._options import parse_time_ns

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "runs",
        help="list recent pipeline runs with their status (like `gh run list`)",
        description="The recent pipeline runs, newest first, with their tasks' status.",
    )
    p.add_argument("--pipeline", metavar="NAME", help="only runs of this pipeline")
    p.add_argument("--status", choices=("running", "succeeded", "failed", "cancelled", "unknown"))
    p.add_argument("--since", type=parse_time_ns, metavar="TIME", help="started after (or 1h)")
    p.add_argument("--until", type=parse_time_ns, metavar="TIME", help="started before")
    p.add_argument("-q", "--search", metavar="TEXT", help="text in a pipeline, run or task name")
    p.add_argument("-L", "--limit", type=int, default=20, help="how many (default 20)")
    p.add_argument("-o", "--output", choices=("text", "json"), default="text")
    p.add_argument("-w", "--watch", action="store_true", help="redraw every --interval s")
    p.add_argument("--interval", type=float, default=2.0, metavar="SECONDS")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    api_args(p)
    p.set_defaults(handler=run)


def _params(args: argparse.Namespace) -> dict[str, str | int | list[str]]:
    params: dict[str, str | int | list[str]] = {"limit": args.limit}
    for key, value in (("pipeline", args.pipeline), ("status", args.status), ("q", args.search)):
        if value:
            params[key] = value
    if args.since is not None:
        params["since"] = iso_ns(args.since)
    if args.until is not None:
        params["until"] = iso_ns(args.until)
    return params


def _tasks_cell(run: dict[str, Any]) -> str:
    by: dict[str, int] = run.get("tasks_by_status") or {}
    parts = [f"{n} {s}" for s, n in sorted(by.items()) if n]
    return f"{run.get('task_count', 0)}" + (f" ({', '.join(parts)})" if parts else "")


def render(runs: list[dict[str, Any]]) -> RenderableType:
    if not runs:
        return Text("no pipeline runs found")
    table = t.table("STATUS", "RUN", "PIPELINE", "TASKS", "STARTED", "DURATION", "LINES", "ERRORS")
    for r in runs:
        errors = int(r.get("error_count") or 0)
        table.add_row(
            t.status_text(str(r.get("status"))),
            str(r.get("run_id")),
            str(r.get("pipeline_name") or "-"),
            _tasks_cell(r),
            t.age(r.get("start_ns")),
            t.duration(r.get("duration_ms")),
            str(r.get("line_count", 0)),
            f"[red]{errors}[/]" if errors else "0",
        )
    return Group(table)


def run(args: argparse.Namespace) -> int:
    with Api(ApiSettings.resolve(args)) as api:

        def fetch() -> list[dict[str, Any]]:
            runs: list[dict[str, Any]] = api.get("/api/v1/runs", _params(args))["runs"]
            return runs

        console = t.show_once(args, fetch, render)
        if console is None:
            return 0
        try:
            t.watch(
                console, lambda: (render(fetch()), ""), interval=args.interval, until_final=False
            )
        except KeyboardInterrupt:
            return 0
    return 0
