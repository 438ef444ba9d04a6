"""``tasklogs logs``'s arguments and what they mean, checked once."""

from __future__ import annotations

import argparse
import os
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from collector_service.cli._api import api_args
from collector_service.cli._common import config_args

__all__ = ["Options", "add_arguments", "parse_duration_ns", "parse_time_ns"]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h|d|w)")
_UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
    "w": 604_800_000_000_000,
}
_FRACTION = re.compile(r"\.(\d+)")
_LEVELS = {"TRACE": 1, "DEBUG": 5, "INFO": 9, "WARN": 13, "WARNING": 13, "ERROR": 17, "FATAL": 21}


def parse_duration_ns(text: str) -> int:
    """``10m``, ``1h30m``, ``45s``, ``500ms``, ``2d``: nanoseconds."""
    text = text.strip()
    pos, total = 0, 0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += int(float(m.group(1)) * _UNIT_NS[m.group(2)])
        pos = m.end()
    if pos != len(text) or not text:
        raise argparse.ArgumentTypeError(
            f"invalid duration {text!r}: expected e.g. 30s, 10m, 1h30m, 2d"
        )
    return total


def parse_time_ns(text: str) -> int:
    """An RFC 3339 time (nanoseconds kept; no zone means UTC), or a duration ago."""
    text = text.strip()
    if "-" not in text and ":" not in text:
        return time.time_ns() - parse_duration_ns(text)
    digits = ""
    frac = _FRACTION.search(text)
    if frac is not None:
        digits = frac.group(1)
        text = text[: frac.start()] + text[frac.end() :]
    try:
        when = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid time {text!r}: expected RFC 3339 (2026-12-02T05:58:49.123456789Z) "
            "or a duration ago (10m)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = int(when.timestamp())
    return seconds * 1_000_000_000 + int((digits + "000000000")[:9] or 0)


def _level(text: str) -> int:
    if text.isdigit() and 1 <= int(text) <= 24:
        return int(text)
    number = _LEVELS.get(text.upper())
    if number is None:
        raise argparse.ArgumentTypeError(
            f"invalid level {text!r}: one of {', '.join(_LEVELS)} or 1..24"
        )
    return number


def _regex(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"invalid regular expression {text!r}: {exc}") from None


def _positive(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return int(text)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("task_run_id", metavar="TASK_RUN_ID", nargs="?", help="the task run to show")
    p.add_argument("--run", metavar="RUN_ID", help="every task of this pipeline run, merged")
    sel = p.add_argument_group("what to show")
    sel.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    sel.add_argument(
        "--until-done",
        action="store_true",
        help="follow until the task (or run) ends; exit with its result: 0 on success, "
        "else the task's exit code (or 1)",
    )
    sel.add_argument("--tail", type=_positive, metavar="N", help="only the last N lines")
    sel.add_argument("--since", metavar="DURATION", type=parse_duration_ns, help="e.g. 10m")
    sel.add_argument("--since-time", metavar="TIME", type=parse_time_ns, help="RFC 3339 time")
    sel.add_argument("--until", metavar="TIME", type=parse_time_ns, help="RFC 3339 or 10m")
    sel.add_argument("--after", metavar="CURSOR", help="continue exactly after this cursor")
    sel.add_argument("-l", "--level", type=_level, metavar="LEVEL", help="at least this level")
    sel.add_argument("--grep", type=_regex, metavar="REGEX", help="only matching lines, shown")
    sel.add_argument(
        "--include", type=_regex, action="append", default=[], metavar="REGEX",
        help="only lines matching one of these (repeatable)",
    )  # fmt: skip
    sel.add_argument(
        "--exclude", type=_regex, action="append", default=[], metavar="REGEX",
        help="drop lines matching any of these (repeatable)",
    )  # fmt: skip
    sel.add_argument(
        "--task", nargs="+", action="extend", default=[], metavar="NAME",
        help="with --run: only these tasks (followed as soon as they start)",
    )  # fmt: skip
    sel.add_argument("--failed", action="store_true", help="with --run: only failed tasks")
    out = p.add_argument_group("how to show it")
    out.add_argument(
        "-o", "--output", choices=("text", "raw", "json", "jsonl", "csv"), default="text",
        help="text: [task] time level line; raw: the line only; json: one array; "
        "jsonl: one object a line; csv",
    )  # fmt: skip
    out.add_argument(
        "--timestamps", nargs="?", const="absolute", default="absolute",
        choices=("absolute", "relative", "none"),
        help="text: absolute (RFC 3339, ns; the default), relative to the first line, none",
    )  # fmt: skip
    out.add_argument(
        "--no-timestamps", dest="timestamps", action="store_const", const="none",
        help="same as --timestamps=none",
    )  # fmt: skip
    out.add_argument(
        "--prefix", action=argparse.BooleanOptionalAction, default=None,
        help="the task name before each line, in a colour of its own (default: with --run)",
    )  # fmt: skip
    out.add_argument("--highlight", type=_regex, action="append", default=[], metavar="REGEX")
    out.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    out.add_argument("--export", type=Path, metavar="FILE", help="save everything to FILE")
    api_args(p)
    config_args(p, suffix=" (to read the store directly when no service runs)")


@dataclass(frozen=True, slots=True)
class Options:
    """What the user asked for, checked."""

    task_run_id: str | None
    run_id: str | None
    follow: bool
    until_done: bool
    tail: int | None
    since_ns: int | None
    until_ns: int | None
    after: str | None
    level: int | None
    grep: re.Pattern[str] | None
    include: list[re.Pattern[str]]
    exclude: list[re.Pattern[str]]
    tasks: list[str]
    failed: bool
    output: str
    timestamps: str
    prefix: bool
    highlight: list[re.Pattern[str]]
    color: str
    export: Path | None
    store_fallback: bool = field(default=False)

    @classmethod
    def from_args(cls, args: argparse.Namespace, parser: argparse.ArgumentParser) -> Options:
        if (args.task_run_id is None) == (args.run is None):
            parser.error("give a TASK_RUN_ID or --run RUN_ID (one of them)")
        if args.run is None and (args.task or args.failed):
            parser.error("--task and --failed need --run RUN_ID")
        if args.since is not None and args.since_time is not None:
            parser.error("--since and --since-time: give one of them")
        follow = bool(args.follow or args.until_done)
        if follow and args.until is not None:
            parser.error("--until ends the output: it cannot be combined with -f/--until-done")
        if args.export is not None and follow:
            parser.error("--export saves what is stored: it cannot be combined with -f")
        if args.after is not None and args.tail is not None:
            parser.error("--after and --tail: give one of them")
        since = args.since_time
        if args.since is not None:
            since = time.time_ns() - args.since
        highlight = list(args.highlight)
        if args.grep is not None:
            highlight.append(args.grep)
        return cls(
            task_run_id=args.task_run_id,
            run_id=args.run,
            follow=follow,
            until_done=args.until_done,
            tail=args.tail,
            since_ns=since,
            until_ns=args.until,
            after=args.after,
            level=args.level,
            grep=args.grep,
            include=list(args.include),
            exclude=list(args.exclude),
            tasks=list(args.task),
            failed=args.failed,
            output=args.output,
            timestamps=args.timestamps,
            prefix=args.prefix if args.prefix is not None else args.run is not None,
            highlight=highlight,
            color=args.color,
            export=args.export,
            store_fallback=bool(
                args.config is not None
                or args.data_dir is not None
                or os.environ.get("TASKLOGS_DATA_DIR")
            ),
        )

    @property
    def filtered(self) -> bool:
        """Whether lines are left out on purpose (a jump in seqs is then no gap)."""
        return bool(
            self.level
            or self.grep
            or self.include
            or self.exclude
            or self.tasks
            or self.failed
            or self.since_ns
            or self.until_ns
        )
