"""``tasklogs logs``: a task run's stored lines in order, from the API or from the store."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from collector_service.cli._common import DEFAULT_API, config_args
from collector_service.component.exporter import resolve_exporters
from collector_service.component.store import Cursor, HistoryQuery, LogStore
from collector_service.errors import StoreBusyError, StoreError
from collector_service.service.config import Config, load_config

if TYPE_CHECKING:
    from collector_service.service.host import ServiceHost

__all__ = ["add_parser", "run"]

_PAGE = 5000


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    config_args(logs, suffix=" (used to read the store directly when no service runs)")

    logs.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
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
                raise StoreError(f"{url}: HTTP {resp.status_code}: {_detail(resp)}")
            page = resp.json()
            yield from page["records"]
            cursor = page["next_cursor"]
            if not cursor:
                return


def _detail(resp: httpx.Response) -> str:
    """The API's error ``detail`` (what it says is wrong), else the body's start."""
    try:
        detail = resp.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    return str(detail) if detail else resp.text[:500]


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
