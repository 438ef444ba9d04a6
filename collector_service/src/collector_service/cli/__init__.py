"""The ``tasklogs`` command line: ``serve``, ``worker``, ``deadletter``, ``logs``, ``run`` and
``retention``."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from collector_service.component.exporter import resolve_exporters
from collector_service.component.store import Cursor, HistoryQuery, LogStore
from collector_service.errors import StoreBusyError, StoreError, TasklogsError
from collector_service.service.config import Config, load_config

if TYPE_CHECKING:
    from collector_service.service.host import ServiceHost

__all__ = ["main"]

DEFAULT_API = "http://127.0.0.1:8080"
_PAGE = 5000


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tasklogs", description="Collect, follow and keep the logs of workflow tasks."
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the OTLP receiver, pipeline, stores and HTTP API")
    _config_args(serve)
    serve.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    serve.add_argument(
        "--no-writers",
        action="store_true",
        help="with Redis: run receivers only; writers run as `tasklogs worker` processes",
    )

    worker = sub.add_parser(
        "worker", help="with Redis: write the ingest stream to exporters (any number of these)"
    )
    _config_args(worker)
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

    dead = sub.add_parser("deadletter", help="list batches exporters could not write")
    _config_args(dead)
    dead.add_argument("--exporter", action="append", default=[], metavar="NAME")
    dead.add_argument("--limit", type=int, default=100, help="newest N per exporter")
    dead.add_argument("-o", "--output", choices=("text", "json"), default="text")

    logs = sub.add_parser("logs", help="print a task run's stored log lines in order")
    logs.add_argument("task_run_id", metavar="TASK_RUN_ID")
    logs.add_argument(
        "--api",
        default=os.environ.get("TASKLOGS_API_URL", DEFAULT_API),
        help=f"URL of a running `tasklogs serve` (env TASKLOGS_API_URL; default {DEFAULT_API})",
    )
    logs.add_argument(
        "-o",
        "--output",
        choices=("text", "json", "raw"),
        default="text",
        help="text: time, severity, line; json: one JSON object per line; raw: the line only",
    )
    _config_args(logs, suffix=" (used to read the store directly when no service runs)")

    retention = sub.add_parser(
        "retention", help="report what the configured store holds: partitions, rows, bytes, oldest"
    )
    retention.add_argument("--json", action="store_true", help="print the report as JSON")
    _config_args(retention)

    run = sub.add_parser(
        "run",
        help="run a command and ship its stdout/stderr as logs",
        usage="tasklogs run [options] -- CMD [ARGS...]",
    )
    run.add_argument(
        "--task-run-id", help="task run id (env TASKLOGS_TASK_RUN_ID; default: new uuid)"
    )
    run.add_argument("--task-name", help="task name (env TASKLOGS_TASK_NAME)")
    run.add_argument("--pipeline-run-id", help="pipeline run id (env TASKLOGS_PIPELINE_RUN_ID)")
    run.add_argument("--pipeline-name", help="pipeline name (env TASKLOGS_PIPELINE_NAME)")
    run.add_argument("--service-name", help="service.name (env OTEL_SERVICE_NAME)")
    run.add_argument(
        "--endpoint",
        help="OTLP endpoint (env OTEL_EXPORTER_OTLP_ENDPOINT; default http://127.0.0.1:4317; "
        "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf for OTLP/HTTP)",
    )
    run.add_argument(
        "--flush-timeout",
        type=float,
        metavar="SECONDS",
        help="bound on the final flush when the collector is unreachable "
        "(env TASKLOGS_FLUSH_TIMEOUT_S; default 5)",
    )
    run.add_argument("cmd", nargs=argparse.REMAINDER, metavar="CMD", help="the command, after --")
    return p


def _version() -> str:
    try:
        return version("tasklogs")
    except PackageNotFoundError:
        return "unknown"


def _config_args(p: argparse.ArgumentParser, suffix: str = "") -> None:
    p.add_argument("-c", "--config", type=Path, help=f"YAML config file{suffix}")
    p.add_argument(
        "--data-dir",
        type=Path,
        help=f"data directory (env TASKLOGS_DATA_DIR; default ~/.local/share/tasklogs){suffix}",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    commands = {
        "serve": _serve,
        "worker": _worker,
        "deadletter": _deadletter,
        "logs": _logs,
        "run": _run,
        "retention": _retention,
    }
    try:
        return commands[args.command](args)
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, like any Unix filter.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (TasklogsError, OSError, httpx.HTTPError) as exc:
        print(f"tasklogs: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


# -- serve -----------------------------------------------------------------------------


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _serve(args: argparse.Namespace) -> int:
    from collector_service.service.lifecycle import Service

    _logging(args.verbose)
    config = load_config(args.config, data_dir=args.data_dir)
    asyncio.run(Service(config, writers=False if args.no_writers else None).run())
    return 0


def _worker(args: argparse.Namespace) -> int:
    from collector_service.service.host import ServiceHost
    from collector_service.stream.consumer import run_worker

    _logging(args.verbose)
    config = load_config(args.config, data_dir=args.data_dir)
    host = ServiceHost.from_config(config)
    if args.metrics_endpoint:
        from prometheus_client import start_http_server

        addr, _, port = args.metrics_endpoint.rpartition(":")
        # The core's metrics and every registry the extensions add.
        start_http_server(int(port), addr=addr or "127.0.0.1", registry=host.metrics)
    asyncio.run(run_worker(config, args.exporter, drain_timeout=args.drain_timeout, host=host))
    return 0


def _deadletter(args: argparse.Namespace) -> int:
    from collector_service.pipeline.deadletter import list_dead_letters

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


# -- logs ------------------------------------------------------------------------------


def _logs(args: argparse.Namespace) -> int:
    out = sys.stdout
    for rec in _records(args):
        out.write(_format(rec, args.output))
        out.write("\n")
    out.flush()
    return 0


def _records(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """From the service's API; when none answers, from the store directly."""
    from_api = _from_api(args.api, args.task_run_id)
    try:
        first = next(from_api, None)
    except httpx.ConnectError:
        config = load_config(args.config, data_dir=args.data_dir)
        yield from _from_store(config, args.task_run_id, args.api)
        return
    if first is not None:
        yield first
        yield from from_api


def _from_api(api: str, task_run_id: str) -> Iterator[dict[str, Any]]:
    url = f"{api.rstrip('/')}/api/v1/tasks/{quote(task_run_id, safe='')}/logs"
    cursor: str | None = None
    token = os.environ.get("TASKLOGS_TOKEN")  # a reader's bearer token when auth is on
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(timeout=30.0, headers=headers) as client:
        while True:
            params: dict[str, str | int] = {"limit": _PAGE}
            if cursor:
                params["cursor"] = cursor
            resp = client.get(url, params=params)
            if resp.status_code != 200:
                raise StoreError(f"{url}: HTTP {resp.status_code}: {resp.text[:500]}")
            page = resp.json()
            yield from page["records"]
            cursor = page["next_cursor"]
            if not cursor:
                return


def _from_store(config: Config, task_run_id: str, api: str) -> Iterator[dict[str, Any]]:
    host, store = _open_store(config, api)
    try:
        after: Cursor | None = None
        while True:
            page = store.query(HistoryQuery(task_run_id=task_run_id, after=after, limit=_PAGE))
            for rec in page.records:
                yield asdict(rec)
            if page.next_cursor is None:
                return
            after = page.next_cursor
    finally:
        host.stop_exporters()


def _open_store(config: Config, api: str) -> tuple[ServiceHost, LogStore]:
    """Start the store that answers history (:meth:`ServiceHost.history_store`), for reading."""
    from collector_service.service.host import ServiceHost

    host = ServiceHost.from_config(config)
    try:
        store = host.start_history_store(resolve_exporters(config, host=host))
    except StoreBusyError as exc:
        raise StoreError(f"no tasklogs service answers at {api}, and {exc}") from exc
    if store is None:
        raise StoreError("no configured exporter can answer history queries")
    return host, store


def _format(rec: dict[str, Any], output: str) -> str:
    if output == "json":
        return json.dumps(rec, ensure_ascii=False, separators=(",", ":"))
    if output == "raw":
        return str(rec["body"])
    ts = datetime.fromtimestamp(rec["timestamp_ns"] / 1e9, tz=UTC)
    stamp = (
        ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{rec['timestamp_ns'] % 1_000_000_000 // 1000:06d}Z"
    )
    severity = rec["severity_text"] or "-"
    return f"{stamp} {severity:<5} {rec['body']}"


# -- retention -------------------------------------------------------------------------


def _retention(args: argparse.Namespace) -> int:
    """Print every configured store's retention report (read from the store directly)."""
    from collector_service.component.exporter import is_best_effort
    from collector_service.component.store import RetentionReporter

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


# -- run -------------------------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    from otel_sdk_ext.identity import TaskIdentity
    from otel_sdk_ext.run import run_command
    from otel_sdk_ext.settings import Settings

    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        print(
            "tasklogs run: error: no command given "
            "(usage: tasklogs run [options] -- CMD [ARGS...])",
            file=sys.stderr,
        )
        return 2
    overrides = {
        k: v
        for k, v in {
            "task_run_id": args.task_run_id,
            "task_name": args.task_name,
            "pipeline_run_id": args.pipeline_run_id,
            "pipeline_name": args.pipeline_name,
            "service_name": args.service_name,
        }.items()
        if v is not None
    }
    if "task_run_id" not in overrides and not os.environ.get("TASKLOGS_TASK_RUN_ID"):
        overrides["task_run_id"] = str(uuid.uuid4())
        print(f"tasklogs: task run id {overrides['task_run_id']}", file=sys.stderr, flush=True)
    identity = TaskIdentity.from_env(**overrides)
    settings = Settings.from_env(endpoint=args.endpoint, flush_timeout_s=args.flush_timeout)
    return run_command(cmd, identity=identity, settings=settings)
