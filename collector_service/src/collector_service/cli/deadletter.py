"""``tasklogs deadletter``: list the batches exporters could not write, or replay them.

``tasklogs deadletter [--exporter NAME] [-o json]`` lists; ``tasklogs deadletter replay
[--exporter NAME] [--keep]`` writes them again through their exporter (idempotent: each
dead letter has a content-derived dedup token), removes each one written, shows progress
on stderr and ends with a summary (exit 1 when anything was left).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime

from collector_service.cli._common import config_args
from collector_service.service.config import load_config

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dead = sub.add_parser(
        "deadletter",
        help="list batches exporters could not write (`deadletter replay`: write them again)",
    )
    config_args(dead)
    dead.add_argument("--exporter", action="append", default=[], metavar="NAME")
    dead.add_argument("--limit", type=int, default=100, help="newest N per exporter")
    dead.add_argument("-o", "--output", choices=("text", "json"), default="text")
    dead.set_defaults(handler=run)
    actions = dead.add_subparsers(dest="action", metavar="ACTION")
    again = actions.add_parser(
        "replay",
        help="write every dead letter again through its exporter, then remove it",
        description="Idempotent: a dead letter replayed twice is stored once. Stop the "
        "process that owns an embedded chDB directory first (one owner per directory).",
    )
    config_args(again)
    again.add_argument("--exporter", action="append", default=[], metavar="NAME")
    again.add_argument("--keep", action="store_true", help="do not remove replayed ones")
    again.add_argument("-o", "--output", choices=("text", "json"), default="text")
    again.set_defaults(handler=run_replay)


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


class _Progress:
    """One stderr line per exporter, rewritten at most ~5 times a second."""

    def __init__(self) -> None:
        self._last = 0.0

    def __call__(self, exporter: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done != total and now - self._last < 0.2:
            return
        self._last = now
        end = "\n" if done == total else "\r"
        print(f"{exporter}: {done}/{total} dead letters", end=end, file=sys.stderr, flush=True)


def run_replay(args: argparse.Namespace) -> int:
    from collector_service.component.exporter import is_best_effort, resolve_exporters
    from collector_service.errors import ConfigError
    from collector_service.pipeline.deadletter import open_dead_letters
    from collector_service.pipeline.replay import replay

    config = load_config(args.config, data_dir=args.data_dir)
    specs = {s.component_id: s for s in resolve_exporters(config) if not is_best_effort(s.factory)}
    for name in args.exporter:
        if name not in specs:
            raise ConfigError(f"exporters.{name}: not configured (known: {', '.join(specs)})")
    left = 0
    with open_dead_letters(config) as letters:
        for name in args.exporter or list(specs):
            if not letters.list(name, 1):
                continue
            exporter = specs[name].create(config.data_dir)
            exporter.start()
            try:
                result = replay(name, exporter, letters, keep=args.keep, progress=_Progress())
            finally:
                exporter.shutdown()
            left += result.total - result.replayed
            if args.output == "json":
                print(
                    json.dumps(
                        {
                            "exporter": name,
                            "dead_letters": result.total,
                            "replayed": result.replayed,
                            "records": result.records,
                            "kept": [{"id": i, "reason": r} for i, r in result.kept],
                            "stopped": result.stopped,
                            "seconds": round(result.seconds, 3),
                        },
                        separators=(",", ":"),
                    )
                )
                continue
            print(
                f"{name}: replayed {result.replayed} of {result.total} dead letters "
                f"({result.records} records) in {result.seconds:.1f}s"
                + ("" if args.keep else ", removed them")
            )
            for rid, reason in result.kept:
                print(f"{name}: kept {rid}: {reason}")
            if result.stopped is not None:
                print(f"{name}: stopped, the store cannot write yet: {result.stopped}")
    return 1 if left else 0
