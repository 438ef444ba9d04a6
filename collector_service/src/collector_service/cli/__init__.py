"""The ``tasklogs`` command line, one module per command: ``serve``, ``worker``,
``deadletter``, ``logs``, ``runs``, ``tasks``, ``run`` and ``retention``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

import httpx

from collector_service.cli import deadletter, logs, retention, run, runs, serve, tasks, worker
from collector_service.cli._common import tasklogs_version
from collector_service.errors import ApiError, TasklogsError
from collector_service.malloc_tune import tune_malloc
from otel_sdk_ext.errors import TasklogsSdkError

__all__ = ["main"]

_COMMANDS = (serve, worker, deadletter, logs, runs, tasks, retention, run)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tasklogs", description="Collect, follow and keep the logs of workflow tasks."
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {tasklogs_version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _COMMANDS:
        command.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    tune_malloc()  # before any thread starts (gRPC's, chDB's, the executor's)
    args = _parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, like any Unix filter.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except ApiError as exc:
        print(f"tasklogs: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (TasklogsError, TasklogsSdkError, OSError, httpx.HTTPError) as exc:
        print(f"tasklogs: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
