"""``tasklogs serve``: receivers, pipeline, stores, live tail and the HTTP API in one process."""

from __future__ import annotations

import argparse
import asyncio

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
    return 0
