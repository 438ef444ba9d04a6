"""How lines are written: ``-o text|raw|json|jsonl|csv``, colours, prefixes, timestamps.

Colour detection is rich's (a terminal, ``NO_COLOR``, ``FORCE_COLOR``, ``TERM``); the
ANSI codes of each style are rendered once through rich and reused for every line, so a
history of millions of lines is not slowed by per-line markup.
"""

from __future__ import annotations

import csv
import json
import re
import zlib
from typing import TextIO

from rich.color import ColorSystem
from rich.console import Console
from rich.style import Style

from collector_service.cli.logs._lines import Line, iso_ns

__all__ = ["Formatter", "Painter", "color_console"]

#: SGR colour sequences (kept when colour is on, dropped otherwise) and every other
#: control character but tab and newline (shown escaped: a log line cannot drive the
#: terminal).
_UNSAFE = re.compile(r"(\x1b\[[0-9;:]*m)|[\x00-\x08\x0b-\x1f\x7f]")
_TASK_COLOURS = (
    "cyan", "green", "magenta", "blue", "yellow", "bright_cyan", "bright_green",
    "bright_magenta", "bright_blue", "bright_yellow", "dark_orange", "purple",
)  # fmt: skip
_CSV_COLUMNS = (
    "time", "timestamp_ns", "seq", "severity_text", "severity_number", "task_name",
    "task_run_id", "event_name", "body", "cursor",
)  # fmt: skip


def color_console(file: TextIO, mode: str) -> Console:
    """A rich console for ``file`` with ``--color auto|always|never``."""
    if mode == "never":
        return Console(file=file, color_system=None, no_color=True, highlight=False)
    if mode == "always":
        console = Console(file=file, force_terminal=True, highlight=False)
        if console.color_system is None:  # TERM=dumb or unset: still, as asked
            console = Console(
                file=file, force_terminal=True, color_system="standard", highlight=False
            )
        return console
    return Console(file=file, highlight=False)


class Painter:
    """ANSI styling through rich, or nothing when colour is off."""

    def __init__(self, console: Console) -> None:
        name = console.color_system
        self.system = ColorSystem[name.upper()] if name and not console.no_color else None
        self._codes: dict[str, tuple[str, str]] = {}

    @property
    def on(self) -> bool:
        return self.system is not None

    def __call__(self, style: str, text: str) -> str:
        if self.system is None or not style or not text:
            return text
        codes = self._codes.get(style)
        if codes is None:
            rendered = Style.parse(style).render("\0", color_system=self.system)
            head, _, tail = rendered.partition("\0")
            codes = self._codes[style] = (head, tail)
        return f"{codes[0]}{text}{codes[1]}"

    def task_style(self, name: str) -> str:
        """A stable colour per task name (the same in every run and every terminal)."""
        return _TASK_COLOURS[zlib.crc32(name.encode()) % len(_TASK_COLOURS)]


def _severity_style(number: int) -> str:
    if number >= 17:
        return "bold red"
    if number >= 13:
        return "yellow"
    if 0 < number < 9:
        return "dim"
    return ""


class Formatter:
    """Writes lines to ``out`` in one of the output formats."""

    def __init__(
        self,
        out: TextIO,
        output: str,
        painter: Painter,
        *,
        timestamps: str = "absolute",
        prefix: bool = False,
        highlight: list[re.Pattern[str]] | None = None,
    ) -> None:
        self.out = out
        self.output = output
        self.paint = painter
        self.timestamps = timestamps
        self.prefix = prefix
        self.highlight = highlight or []
        self._first_ns: int | None = None
        self._width = 0
        self._count = 0
        self._finished = False
        self._csv = csv.writer(out, lineterminator="\n") if output == "csv" else None

    def begin(self) -> None:
        if self.output == "json":
            self.out.write("[")
        elif self._csv is not None:
            self._csv.writerow(_CSV_COLUMNS)

    def finish(self) -> None:
        """Close the output (the JSON array); once, however often it is called."""
        if self._finished:
            return
        self._finished = True
        if self.output == "json":
            self.out.write("\n]\n" if self._count else "]\n")
        self.out.flush()

    def known_tasks(self, names: list[str]) -> None:
        """Pad prefixes to the widest task name known in advance (a run's tasks)."""
        self._width = max([self._width, *(len(n) for n in names)])

    def write(self, line: Line) -> None:
        self._count += 1
        out = self.out
        if self.output == "raw":
            out.write(line.body + "\n")
        elif self.output == "jsonl":
            out.write(json.dumps(line.as_json(), ensure_ascii=False, separators=(",", ":")))
            out.write("\n")
        elif self.output == "json":
            out.write("\n" if self._count == 1 else ",\n")
            out.write(json.dumps(line.as_json(), ensure_ascii=False, separators=(",", ":")))
        elif self._csv is not None:
            self._csv.writerow(
                (
                    iso_ns(line.timestamp_ns), line.timestamp_ns, line.seq, line.severity_text,
                    line.severity_number, line.task_name, line.task_run_id, line.event_name,
                    line.body, line.cursor,
                )
            )  # fmt: skip
        else:
            out.write(self.text(line))

    def text(self, line: Line) -> str:
        """``[task] TIME LEVEL body``; further lines of a multi-line body are indented
        under the first; control characters are shown escaped, never interpreted."""
        paint = self.paint
        head: list[str] = []
        width = 0
        if self.prefix:
            name = line.task_name or line.task_run_id
            self._width = max(self._width, len(name))
            padded = name.ljust(self._width)
            head.append(paint(paint.task_style(name), padded))
            width += len(padded) + 1
        stamp = self._stamp(line.timestamp_ns)
        if stamp:
            head.append(paint("dim", stamp))
            width += len(stamp) + 1
        level = (line.severity_text or "-").ljust(5)
        head.append(paint(_severity_style(line.severity_number), level))
        width += len(level) + 1
        body = self._body(line.body)
        lines = body.split("\n")
        if len(lines) > 1:
            pad = "\n" + " " * width
            body = pad.join(lines[:-1] if lines[-1] == "" else lines)
        return " ".join(head) + " " + body + "\n"

    def _stamp(self, ns: int) -> str:
        if self.timestamps == "none":
            return ""
        if self.timestamps == "relative":
            if self._first_ns is None:
                self._first_ns = ns
            delta = ns - self._first_ns
            sign = "-" if delta < 0 else "+"
            s, frac = divmod(abs(delta), 1_000_000_000)
            return f"{sign}{s:>6}.{frac:09d}s"
        return iso_ns(ns)

    def _body(self, body: str) -> str:
        keep = self.paint.on

        def safe(m: re.Match[str]) -> str:
            if m.group(1):
                return m.group(1) if keep else ""
            return f"\\x{ord(m.group()):02x}"

        body = _UNSAFE.sub(safe, body.replace("\r\n", "\n"))
        if self.highlight and self.paint.on:
            body = self._highlighted(body)
        return body

    def _highlighted(self, body: str) -> str:
        spans: list[tuple[int, int]] = []
        for pattern in self.highlight:
            spans.extend(m.span() for m in pattern.finditer(body) if m.end() > m.start())
        if not spans:
            return body
        spans.sort()
        parts: list[str] = []
        pos = 0
        for first, end in spans:
            start = max(first, pos)
            if end <= start:
                continue
            parts.append(body[pos:start])
            parts.append(self.paint("bold black on yellow", body[start:end]))
            pos = end
        parts.append(body[pos:])
        return "".join(parts)
