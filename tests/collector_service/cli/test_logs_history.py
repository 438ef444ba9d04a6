"""`tasklogs logs` on stored lines, real processes against a real `tasklogs serve` (chDB):
every output format, timestamps, prefixes, colours, the filters, --tail, --after,
--since/--until and --export."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from tests.collector_service.cli.conftest import World
from tests.collector_service.cli.support import cli
from tests.support import RunningService

LINES = [f"line {i}" for i in range(1, 21)]
NS_STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"


def _ok(svc: RunningService, *args: str) -> str:
    proc = cli(svc, "logs", *args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_raw_is_every_line_once_in_order(cli_service: RunningService, world: World) -> None:
    out = _ok(cli_service, world.shell, "-o", "raw").splitlines()
    assert out == ["task started", *LINES, "oops", "task ended with exit code 3"]


def test_text_has_nanosecond_timestamps_and_levels(
    cli_service: RunningService, world: World
) -> None:
    out = _ok(cli_service, world.shell, "--color", "never").splitlines()
    assert re.fullmatch(rf"{NS_STAMP} INFO  line 1", out[1])
    assert re.fullmatch(rf"{NS_STAMP} ERROR oops", out[-2])
    stored = cli_service.history(world.shell)
    ns = stored[1]["timestamp_ns"]
    assert out[1].split()[0].endswith(f".{ns % 1_000_000_000:09d}Z")  # no rounding


def test_timestamps_relative_and_none(cli_service: RunningService, world: World) -> None:
    rel = _ok(cli_service, world.shell, "--timestamps=relative", "--color", "never").splitlines()
    assert re.fullmatch(r"\+\s+0\.000000000s INFO  task started", rel[0])
    assert all(re.match(r"\+\s+\d+\.\d{9}s ", line) for line in rel)
    plain = _ok(cli_service, world.shell, "--no-timestamps", "--color", "never").splitlines()
    assert plain[1] == "INFO  line 1"
    assert _ok(cli_service, world.shell, "--timestamps", "none").splitlines()[1] == "INFO  line 1"


def test_multi_line_bodies_are_indented_and_control_characters_escaped(
    cli_service: RunningService, world: World
) -> None:
    out = _ok(cli_service, world.py, "--no-timestamps", "--color", "never").splitlines()
    assert out[:3] == ["INFO  first", "      second", "      third"]
    assert out[3] == "WARN  bell \\x07 and \\x1b]0;title\\x07 stay visible"
    assert out[4] == "ERROR boom"
    assert "\x1b" not in "".join(out)


def test_json_jsonl_and_csv(cli_service: RunningService, world: World) -> None:
    records = json.loads(_ok(cli_service, world.shell, "-o", "json"))
    assert [r["body"] for r in records][1:21] == LINES
    first = records[1]
    assert first["task_run_id"] == world.shell
    assert first["task_name"] == "build"
    assert first["time"].endswith("Z")
    assert first["cursor"]
    assert first["seq"] == 2
    rows = [json.loads(x) for x in _ok(cli_service, world.shell, "-o", "jsonl").splitlines()]
    assert rows == records
    table = list(csv.DictReader(io.StringIO(_ok(cli_service, world.shell, "-o", "csv"))))
    assert [r["body"] for r in table] == [r["body"] for r in records]
    assert table[1]["seq"] == "2"
    assert table[1]["task_name"] == "build"
    assert table[1]["timestamp_ns"] == str(first["timestamp_ns"])


def test_prefix_and_colours(cli_service: RunningService, world: World) -> None:
    run = _ok(cli_service, "--run", world.run_id, "--color", "never", "--no-timestamps")
    names = {line.split()[0] for line in run.splitlines() if line and not line[0].isspace()}
    assert names == {"build", "lint"}
    assert run.splitlines()[0].startswith("build ")  # padded to the widest name
    bare = _ok(cli_service, "--run", world.run_id, "--no-prefix", "--color", "never")
    assert not bare.startswith("build")
    coloured = _ok(cli_service, world.shell, "--prefix", "--color", "always")
    assert "\x1b[" in coloured
    build = coloured.splitlines()[0].split("build")[0]
    again = _ok(cli_service, world.shell, "--prefix", "--color", "always")
    assert again.splitlines()[0].split("build")[0] == build  # a stable colour per task
    lint = _ok(cli_service, world.py, "--prefix", "--color", "always").splitlines()[0]
    assert lint.split("lint")[0] != build
    assert "\x1b" not in _ok(cli_service, world.shell, "--color", "never")
    assert "\x1b" not in _ok(cli_service, world.shell)  # auto: a pipe is no terminal


def test_tail_since_until(cli_service: RunningService, world: World) -> None:
    tail = _ok(cli_service, world.shell, "--tail", "3", "-o", "raw").splitlines()
    assert tail == ["line 20", "oops", "task ended with exit code 3"]
    assert _ok(cli_service, world.shell, "--tail", "0", "-o", "raw") == ""
    records = cli_service.history(world.shell)
    cut = records[10]["timestamp_ns"]
    stamp = json.loads(_ok(cli_service, world.shell, "-o", "json"))[10]["time"]
    since = _ok(cli_service, world.shell, "--since-time", stamp, "-o", "raw").splitlines()
    assert since == [r["body"] for r in records if r["timestamp_ns"] >= cut]
    until = _ok(cli_service, world.shell, "--until", stamp, "-o", "raw").splitlines()
    assert until == [r["body"] for r in records if r["timestamp_ns"] < cut]
    assert len(_ok(cli_service, world.shell, "--since", "1h", "-o", "raw").splitlines()) == 23
    assert _ok(cli_service, world.shell, "--until", "1h", "-o", "raw") == ""
    both = _ok(cli_service, world.shell, "--since-time", stamp, "--tail", "2", "-o", "raw")
    assert both.splitlines() == ["oops", "task ended with exit code 3"]


def test_after_a_cursor_continues_exactly(cli_service: RunningService, world: World) -> None:
    records = json.loads(_ok(cli_service, world.shell, "-o", "json"))
    rest = _ok(cli_service, world.shell, "--after", records[7]["cursor"], "-o", "raw")
    assert rest.splitlines() == [r["body"] for r in records[8:]]


def test_level_grep_include_exclude_highlight(cli_service: RunningService, world: World) -> None:
    def raw(*args: str) -> list[str]:
        return _ok(cli_service, world.shell, "-o", "raw", *args).splitlines()

    assert raw("-l", "ERROR") == ["oops", "task ended with exit code 3"]
    assert raw("--level", "warn") == ["oops", "task ended with exit code 3"]
    assert raw("--grep", r"line 1\d") == [f"line {i}" for i in range(10, 20)]
    assert raw("--include", "^line 2", "--include", "oops") == ["line 2", "line 20", "oops"]
    assert raw("--include", "^line", "--exclude", r"[02-9]$", "--exclude", "^line 1.") == ["line 1"]
    shown = _ok(cli_service, world.shell, "--highlight", "line", "--color", "always")
    assert "\x1b[1;30;43mline\x1b[0m 7" in shown  # highlighted, nothing filtered
    assert len(shown.splitlines()) == 23
    grep = _ok(cli_service, world.shell, "--grep", "oo", "--color", "always").splitlines()
    assert len(grep) == 1
    assert "\x1b[1;30;43moo\x1b[0mps" in grep[0]


def test_run_logs_task_filter(cli_service: RunningService, world: World) -> None:
    lint = _ok(cli_service, "--run", world.run_id, "--task", "lint", "-o", "jsonl")
    assert {json.loads(x)["task_run_id"] for x in lint.splitlines()} == {world.py}
    both = _ok(cli_service, "--run", world.run_id, "--task", "lint", "build", "-o", "jsonl")
    assert len(both.splitlines()) == 23 + 3


def test_export_with_progress(cli_service: RunningService, world: World, tmp_path: Path) -> None:
    target = tmp_path / "build.ndjson"
    proc = cli(cli_service, "logs", world.shell, "--export", str(target))
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(x) for x in target.read_text(encoding="utf-8").splitlines()]
    assert [r["body"] for r in rows][1:21] == LINES
    assert "exported 23 lines" in proc.stderr
    assert not list(tmp_path.glob(".*.part"))
    as_csv = tmp_path / "build.csv"
    proc = cli(cli_service, "logs", world.shell, "--export", str(as_csv), "-l", "ERROR")
    assert proc.returncode == 0, proc.stderr
    table = list(csv.DictReader(io.StringIO(as_csv.read_text(encoding="utf-8"))))
    assert [r["body"] for r in table] == ["oops", "task ended with exit code 3"]


def test_run_tail_and_export(cli_service: RunningService, world: World, tmp_path: Path) -> None:
    tail = _ok(cli_service, "--run", world.run_id, "--tail", "2", "-o", "jsonl").splitlines()
    assert [json.loads(x)["body"] for x in tail][-1] == "boom"
    assert len(tail) == 2
    target = tmp_path / "run.csv"
    proc = cli(cli_service, "logs", "--run", world.run_id, "--export", str(target))
    assert proc.returncode == 0, proc.stderr
    table = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert len(table) == 23 + 3
    assert {r["task_run_id"] for r in table} == {world.shell, world.py}
