"""``tasklogs run -- CMD``: the producer's wrapper (:mod:`otel_sdk_ext.cli`), as a subcommand."""

from __future__ import annotations

import argparse

from otel_sdk_ext import cli as producer_cli

__all__ = ["add_parser"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser(
        "run",
        help="run a command and ship its stdout/stderr as logs",
        usage="tasklogs run [options] -- CMD [ARGS...]",
    )
    producer_cli.add_arguments(run)
    run.set_defaults(handler=producer_cli.run)
