"""``tasklogs logs``: a task run's or a pipeline run's lines, stored and (``-f``) live.

One module per job: ``_options`` (the flags), ``_history`` (stored pages), ``_live`` (the
SSE reader that reconnects), ``_printer`` (each line once), ``_format`` (the output
formats), ``_export`` (``--export FILE``), ``_store`` (no service: the store itself).
"""

from __future__ import annotations

import argparse
import sys

from collector_service.cli._api import Api, ApiSettings
from collector_service.cli.logs._options import Options, add_arguments
from collector_service.errors import ApiUnreachableError

__all__ = ["add_parser", "run"]

_EPILOG = """\
examples:
  tasklogs logs build-1234                     the stored lines
  tasklogs logs build-1234 -f --until-done     follow; exit with the task's exit code
  tasklogs logs --run nightly-17 -f --task build test   two tasks of a run, live
  tasklogs logs --run nightly-17 --failed      only the tasks that failed
  tasklogs logs build-1234 --tail 100 -l WARN --grep 'time(d )?out'
  tasklogs logs build-1234 --export build.ndjson
exit codes: 0 ok (with --until-done: the task succeeded), the task's exit code or 1
  (--until-done: it failed), 2 usage, 66 no such task or run, 69 service unreachable,
  77 token refused, 130 interrupted (the cursor to continue from is printed)."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    logs = sub.add_parser(
        "logs",
        help="print (and follow) a task run's or a pipeline run's log lines",
        description="Print a task run's or a pipeline run's log lines in order; with -f, "
        "keep following them live, reconnecting by itself without gap or duplicate.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(logs)
    logs.set_defaults(handler=lambda args: run(args, logs))


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    opts = Options.from_args(args, parser)
    with Api(ApiSettings.resolve(args)) as api:
        if opts.export is not None:
            from collector_service.cli.logs._export import export

            return export(opts, api, sys.stderr)
        if opts.store_fallback and opts.task_run_id and not opts.follow and _unreachable(api):
            return _from_store(args, opts, api)
        from collector_service.cli.logs._show import show

        return show(opts, api, sys.stdout, sys.stderr)


def _unreachable(api: Api) -> bool:
    try:
        api.get("/healthz")
    except ApiUnreachableError:
        return True
    return False


def _from_store(args: argparse.Namespace, opts: Options, api: Api) -> int:
    """No service answers, and a store was named (``--config``/``--data-dir``): read it."""
    from collector_service.cli.logs._format import Formatter, Painter, color_console
    from collector_service.cli.logs._lines import Line
    from collector_service.cli.logs._printer import Printer
    from collector_service.cli.logs._select import Selection
    from collector_service.cli.logs._store import from_store
    from collector_service.service.config import load_config

    out = sys.stdout
    fmt = Formatter(
        out,
        opts.output,
        Painter(color_console(out, opts.color)),
        timestamps=opts.timestamps,
        prefix=opts.prefix,
        highlight=opts.highlight,
    )
    printer = Printer(fmt, Selection(opts), sys.stderr, kind="task", after=opts.after)
    config = load_config(args.config, data_dir=args.data_dir)
    fmt.begin()
    try:
        lines = [
            Line.from_record(r) for r in from_store(config, str(opts.task_run_id), api.settings.url)
        ]
        if opts.tail is not None:
            lines = lines[-opts.tail :] if opts.tail else []
        for line in lines:
            printer.offer(line)
    finally:
        fmt.finish()
    return 0
