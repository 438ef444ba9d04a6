"""The pieces of `tasklogs logs` that need no service: seq bookkeeping, times, durations,
the text format."""

from __future__ import annotations

import argparse
import io

import pytest
from rich.console import Console

from collector_service.cli.logs._format import Formatter, Painter
from collector_service.cli.logs._lines import Line, SeenSeqs, iso_ns
from collector_service.cli.logs._options import parse_duration_ns, parse_time_ns


def test_seen_seqs_keeps_a_watermark_and_only_the_few_above_it() -> None:
    seen = SeenSeqs()
    assert [seen.add(s) for s in (1, 2, 4, 3, 3, 1, 6)] == [True] * 4 + [False, False, True]
    assert seen.mark == 4
    assert seen.above == {6}
    assert all(seen.add(s) for s in range(7, 100_000))
    assert seen.mark == 4  # 5 is missing: what came after waits above the mark
    assert seen.add(5)
    assert seen.mark == 99_999
    assert seen.above == set()


def test_times_keep_every_nanosecond() -> None:
    ns = 1_796_191_918_208_727_503
    assert iso_ns(ns) == "2026-12-02T06:11:58.208727503Z"
    assert parse_time_ns("2026-12-02T06:11:58.208727503Z") == ns
    assert parse_time_ns("2026-12-02T07:11:58.208727503+01:00") == ns
    assert parse_time_ns("2026-12-02T06:11:58") == ns - 208_727_503
    assert parse_duration_ns("1h30m") == 5_400_000_000_000
    assert parse_duration_ns("500ms") == 500_000_000
    with pytest.raises(argparse.ArgumentTypeError, match="invalid duration"):
        parse_duration_ns("10 minutes")
    with pytest.raises(argparse.ArgumentTypeError, match="invalid time"):
        parse_time_ns("yesterday-ish")


def _line(body: str, **kw: object) -> Line:
    rec = {"timestamp_ns": 1, "seq": 1, "severity_text": "INFO", "severity_number": 9}
    return Line.from_record({**rec, "body": body, "task_run_id": "t", **kw})


def test_text_indents_continuations_and_shows_control_characters() -> None:
    plain = Painter(Console(file=io.StringIO(), color_system=None, no_color=True))
    fmt = Formatter(io.StringIO(), "text", plain, timestamps="none", prefix=True)
    fmt.known_tasks(["build", "a-longer-name"])
    line = _line("one\ntwo\r\nthree\x1b[31m red\x1b[0m \x1b]0;x\x07", task_name="build")
    assert fmt.text(line) == (
        "build         INFO  one\n"
        "                    two\n"
        "                    three red \\x1b]0;x\\x07\n"
    )
    colour = Painter(Console(file=io.StringIO(), force_terminal=True, color_system="standard"))
    shown = Formatter(io.StringIO(), "text", colour, timestamps="none").text(_line("\x1b[31mred"))
    assert "\x1b[31mred" in shown  # colours of the task itself are kept when colour is on
