"""``tasklogs retention``: what each configured store holds and drops."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from datetime import UTC, datetime

from collector_service.cli._common import config_args

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    retention = sub.add_parser(
        "retention", help="report what the configured store holds: partitions, rows, bytes, oldest"
    )
    retention.add_argument("--json", action="store_true", help="print the report as JSON")
    config_args(retention)

    retention.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print every configured store's retention report (read from the store directly)."""
    from collector_service.component.exporter import is_best_effort, resolve_exporters
    from collector_service.component.store import RetentionReporter
    from collector_service.service.config import load_config

    config = load_config(args.config, data_dir=args.data_dir)
    for spec in resolve_exporters(config):
        if is_best_effort(spec.factory):
            continue  # no record of the logs, so nothing retained (and needs a service)
        exporter = spec.create(config.data_dir)
        if not isinstance(exporter, RetentionReporter):
            continue
        exporter.start()
        try:
            report = exporter.retention_report()
        finally:
            exporter.shutdown()
        if args.json:
            print(json.dumps(asdict(report), indent=2))
            continue
        ttl = "none" if report.ttl_seconds is None else f"{report.ttl_seconds}s"
        print(f"{report.store}  ttl={ttl}  oldest={_iso(report.oldest_ns)}")
        print(f"{'table':<20} {'partition':<12} {'rows':>12} {'bytes':>14}  oldest")
        for p in report.partitions:
            print(
                f"{p.table:<20} {p.partition:<12} {p.rows:>12} {p.bytes_on_disk:>14}  "
                f"{_iso(p.min_timestamp_ns)}"
            )
        for d in report.dropped:
            print(f"dropped: {d}")
    return 0


def _iso(ns: int | None) -> str:
    return "-" if ns is None else datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat()
