"""``tasklogs worker``: with Redis, consume the stream queue into exporters (any number)."""

from __future__ import annotations

import argparse
import asyncio

from collector_service.cli._common import config_args, setup_logging

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = sub.add_parser(
        "worker", help="with Redis: write the ingest stream to exporters (any number of these)"
    )
    config_args(worker)
    worker.add_argument(
        "--exporter",
        action="append",
        default=[],
        metavar="NAME",
        help="exporter component id to write (repeatable; default: every exporter)",
    )
    worker.add_argument(
        "--drain-timeout",
        type=float,
        default=30.0,
        help="seconds to finish the batches in flight on SIGTERM (default 30)",
    )
    worker.add_argument(
        "--metrics-endpoint", metavar="HOST:PORT", help="serve Prometheus /metrics here"
    )
    worker.add_argument("-v", "--verbose", action="store_true", help="debug logging")

    worker.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from collector_service.service.host import ServiceHost
    from collector_service.stream.consumer import run_worker

    setup_logging(args.verbose)
    from collector_service.service.config import load_config

    config = load_config(args.config, data_dir=args.data_dir)
    host = ServiceHost.from_config(config)
    if args.metrics_endpoint:
        from collector_service.cli.metrics_server import serve_metrics

        # The core's metrics and every registry the extensions add.
        serve_metrics(
            args.metrics_endpoint,
            host.metrics,
            host.authenticator,
            protect=host.auth.protect_metrics,
        )
    asyncio.run(run_worker(config, args.exporter, drain_timeout=args.drain_timeout, host=host))
    return 0
