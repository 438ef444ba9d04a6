"""Whole-process behaviour: the atexit hook, uncaught exceptions, the line splitter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from otel_sdk_ext._tee import TeeTextStream

REPO_ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import json, logging, sys
    from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult

    class FileExporter(LogRecordExporter):
        def __init__(self, path):
            self.path = path

        def export(self, batch):
            with open(self.path, "a", encoding="utf-8") as f:
                for r in batch:
                    attrs = dict(r.log_record.attributes or {})
                    f.write(json.dumps({
                        "scope": r.instrumentation_scope.name,
                        "body": r.log_record.body,
                        "seq": attrs.get("tasklogs.seq"),
                        "run": r.resource.attributes.get("cicd.pipeline.task.run.id"),
                    }) + "\\n")
            return LogRecordExportResult.SUCCESS

        def shutdown(self):
            pass

        def force_flush(self, timeout_millis=30000):
            return True

    import otel_sdk_ext
    otel_sdk_ext.configure(_exporter=FileExporter(sys.argv[1]), schedule_delay_ms=60000)
    logging.getLogger("app").info("from logging")
    print("a line")
    print("a partial line", end="")
    raise RuntimeError("uncaught")
    """
)


def test_exit_flushes_everything_and_captures_the_traceback(tmp_path: Path) -> None:
    out_file = tmp_path / "records.jsonl"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["TASKLOGS_TASK_RUN_ID"] = "proc-run"
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(out_file)],
        capture_output=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stdout == b"a line\na partial line"
    assert b"RuntimeError: uncaught" in proc.stderr

    records = [json.loads(line) for line in out_file.read_text("utf-8").splitlines()]
    # The schedule delay is a minute: everything here was exported by the exit hook.
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    assert {r["run"] for r in records} == {"proc-run"}
    by_scope: dict[str, list[str]] = {}
    for record in records:
        by_scope.setdefault(record["scope"], []).append(record["body"])
    assert by_scope["app"] == ["from logging"]
    assert by_scope["tasklogs.stdout"] == ["a line", "a partial line"]
    assert by_scope["tasklogs.stderr"][0] == "Traceback (most recent call last):"
    assert by_scope["tasklogs.stderr"][-1] == "RuntimeError: uncaught"


def test_tee_captures_writes_made_while_capturing_after_the_outer_line(tmp_path: Path) -> None:
    got: list[str] = []
    with open(tmp_path / "out.txt", "w", encoding="utf-8") as original:
        tee: TeeTextStream

        def sink(line: str, _attrs: object) -> None:
            got.append(line)
            if line == "outer":  # output produced while a line is being emitted
                tee.write("written while emitting\n")
            if line == "loop":  # output on every emission: bounded, not endless
                tee.write("loop\n")

        tee = TeeTextStream(original, sink)
        tee.write("outer\n")
        tee.write("loop\n")
        tee.write("after partial")
        tee.stop_capture()
        tee.write("not captured\n")
        tee.flush()
    assert got[:2] == ["outer", "written while emitting"]
    assert got[2:] == ["loop"] * (1 + 1024) + ["after partial"]
    text = (tmp_path / "out.txt").read_text("utf-8")
    assert text.startswith("outer\nwritten while emitting\nloop\n")
    assert text.endswith("after partialnot captured\n")
