"""``tasklogs logs ... --export FILE``: the whole stored log to a file, any size, with a
progress bar (rich, on stderr).

The service streams it (``.../logs/download``) page by page; the file is written under
a temporary name and renamed when complete, so an interrupted export leaves no file that
looks whole.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from collector_service.cli._api import Api
from collector_service.cli.logs._history import Target
from collector_service.cli.logs._options import Options
from collector_service.cli.logs._select import Selection
from collector_service.errors import ApiError

__all__ = ["download_format", "export"]

_BY_SUFFIX = {".csv": "csv", ".ndjson": "ndjson", ".jsonl": "ndjson", ".json": "ndjson"}
_BY_OUTPUT = {"csv": "csv", "json": "ndjson", "jsonl": "ndjson", "text": "text", "raw": "text"}


def download_format(path: Path, output: str) -> str:
    """``-o`` when given (not the default text), else the file's suffix, else text."""
    if output != "text":
        return _BY_OUTPUT[output]
    return _BY_SUFFIX.get(path.suffix.lower(), "text")


def _line_count(api: Api, target: Target) -> int | None:
    """The number of stored lines from the runs index, when it has the target."""
    try:
        summary = api.get(target.base)
    except ApiError:
        return None
    if target.kind == "run":
        summary = summary.get("run", {})
    count = summary.get("line_count") if isinstance(summary, dict) else None
    return int(count) if isinstance(count, int) else None


def export(opts: Options, api: Api, err: TextIO) -> int:
    target = (
        Target("task", opts.task_run_id) if opts.task_run_id else Target("run", str(opts.run_id))
    )
    path = opts.export
    assert path is not None
    fmt = download_format(path, opts.output)
    params = {**Selection(opts).history_params(), "format": fmt}
    filtered = any(k != "format" for k in params)
    total = None if filtered else _line_count(api, target)
    tmp = path.with_name(f".{path.name}.part")
    lines = size = 0
    console = Console(file=err, highlight=False)
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("lines"),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    try:
        with (
            api.stream(f"{target.base}/logs/download", params, read_timeout=300) as resp,
            tmp.open("wb") as out,
            progress,
        ):
            bar = progress.add_task(f"{target.what} -> {path}", total=total)
            for chunk in resp.iter_bytes():
                out.write(chunk)
                size += len(chunk)
                n = chunk.count(b"\n")
                lines += n
                progress.update(bar, advance=n)
            if fmt == "csv" and lines:
                lines -= 1  # the header
            progress.update(bar, completed=lines, total=lines)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    err.write(f"tasklogs: exported {lines} lines ({size} bytes) of {target.what} to {path}\n")
    return 0
