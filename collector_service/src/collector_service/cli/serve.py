"""``tasklogs serve``: receivers, pipeline, stores, live tail and the HTTP API in one process."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from typing import NoReturn

from collector_service.cli._common import config_args, setup_logging

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser("serve", help="run the OTLP receiver, pipeline, stores and HTTP API")
    config_args(serve)
    serve.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    serve.add_argument(
        "--no-writers",
        action="store_true",
        help="with Redis: run receivers only; writers run as `tasklogs worker` processes",
    )

    serve.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from collector_service.service.lifecycle import Service

    setup_logging(args.verbose)
    from collector_service.service.config import load_config

    config = load_config(args.config, data_dir=args.data_dir)
    asyncio.run(Service(config, writers=False if args.no_writers else None).run())
    _exit_now()


def _exit_now() -> NoReturn:
    """Leave without the interpreter's teardown, once the service stopped cleanly.

    Everything is drained and closed by now (receivers, API, writers, stores). What the
    teardown still did was chDB's engine destructors and joining worker threads still
    running store queries for clients that are gone: 3 s idle and 10 s under load, on
    top of a stop that took 0.4-4 s, while followers wait to resume on the restarted
    process. Like a SIGKILL after the drain (which the stores are built to survive),
    minus the loss: nothing is pending.
    """
    logging.getLogger(__name__).info("stopped; exiting")
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
