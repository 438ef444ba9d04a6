"""``tasklogs deadletter``: list the batches exporters could not write."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from collector_service.cli._common import config_args

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dead = sub.add_parser("deadletter", help="list batches exporters could not write")
    config_args(dead)
    dead.add_argument("--exporter", action="append", default=[], metavar="NAME")
    dead.add_argument("--limit", type=int, default=100, help="newest N per exporter")
    dead.add_argument("-o", "--output", choices=("text", "json"), default="text")

    dead.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from collector_service.pipeline.deadletter import list_dead_letters
    from collector_service.service.config import load_config

    config = load_config(args.config, data_dir=args.data_dir)
    for rec in list_dead_letters(config, args.exporter, args.limit):
        at = datetime.fromtimestamp(rec.at_ns / 1e9, tz=UTC).isoformat()
        if args.output == "json":
            row = {
                "id": rec.id,
                "exporter": rec.exporter,
                "at": at,
                "records": rec.records,
                "tenant": rec.tenant,
                "reason": rec.reason,
                "payload_bytes": len(rec.payload),
            }
            print(json.dumps(row, separators=(",", ":")))
        else:
            print(f"{at} {rec.exporter} {rec.id} records={rec.records} {rec.reason}")
    return 0
