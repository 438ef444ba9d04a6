"""Real child processes against a real `tasklogs serve`: identity, transport, capture."""

from __future__ import annotations

import pytest

from otel_sdk_ext._lines import SPLIT_MARKER
from tests.otel_sdk_ext._proc import bodies, child_env, new_run_id, ordered, run_python
from tests.support import RunningService

pytestmark = pytest.mark.e2e

TRUTHY = ("true", "True", "1")


def test_identity_headers_and_compression_from_the_environment(service: RunningService) -> None:
    run_id = new_run_id("env")
    env = child_env(
        service,
        "",  # no TASKLOGS_TASK_RUN_ID: the id comes from OTEL_RESOURCE_ATTRIBUTES
        OTEL_RESOURCE_ATTRIBUTES=(
            f"cicd.pipeline.task.run.id={run_id},cicd.pipeline.name=nightly,"
            "deployment.environment=ci%20runner"
        ),
        OTEL_SERVICE_NAME="builder",
        TASKLOGS_TASK_NAME="compile",
        TASKLOGS_PIPELINE_RUN_ID="pr-7",
        TASKLOGS_ATTEMPT="2",
        OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer%20not-checked-here",
        OTEL_EXPORTER_OTLP_COMPRESSION="gzip",
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
    )
    del env["TASKLOGS_TASK_RUN_ID"]
    proc = run_python(
        """
        import logging, otel_sdk_ext
        tl = otel_sdk_ext.configure()
        assert tl.settings.compression == "gzip", tl.settings
        assert tl.settings.headers == {"authorization": "Bearer not-checked-here"}
        logging.getLogger("app").info("hello from the environment")
        """,
        env,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    records = service.wait_for(run_id, 1)
    assert bodies(records) == ["hello from the environment"]
    resource = records[0]["resource_attributes"]
    assert resource["cicd.pipeline.task.run.id"] == run_id
    assert resource["cicd.pipeline.name"] == "nightly"
    assert resource["cicd.pipeline.task.name"] == "compile"
    assert resource["cicd.pipeline.run.id"] == "pr-7"
    assert resource["tasklogs.attempt"] == "2"
    assert resource["service.name"] == "builder"
    assert resource["deployment.environment"] == "ci runner"


CAPTURE_SCRIPT = r"""
import logging, sys, threading, time
import otel_sdk_ext
otel_sdk_ext.configure(partial_line_flush_ms=200, max_line_chars=100)
print("plain line")
print("flushed", flush=True)
sys.stdout.buffer.write(b"bytes line\n")
sys.stdout.buffer.write(b"bad \xff\xfe utf8\n")

def worker(t):
    for i in range(50):
        print(f"thread-{t} line-{i}")

threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
for p in range(1001):
    sys.stdout.write(f"\rprogress {p / 10:.1f}%")
sys.stdout.write("\n")
sys.stdout.write("waiting for input: ")
sys.stdout.flush()
time.sleep(1.0)
print("answer")
print("x" * 250)
print("to stderr", file=sys.stderr)
logging.getLogger("app").warning("a log record")
print("tail without newline", end="")
"""


def test_capture_behaves_like_the_terminal(service: RunningService) -> None:
    run_id = new_run_id("capture")
    proc = run_python(CAPTURE_SCRIPT, child_env(service, run_id))
    assert proc.returncode == 0, proc.stderr.decode()
    # The terminal still sees exactly what was written.
    assert b"bad \xff\xfe utf8\n" in proc.stdout
    assert proc.stdout.count(b"\rprogress") == 1001
    assert proc.stdout.endswith(b"tail without newline")
    assert proc.stderr == b"to stderr\n"

    records = ordered(service.wait_for(run_id, 213))
    seqs = [int(r["seq"]) for r in records]
    assert seqs == list(range(1, len(records) + 1))
    out = [r for r in records if r["scope_name"] == "tasklogs.stdout"]
    text = [r["body"] for r in out]
    assert text[:4] == ["plain line", "flushed", "bytes line", "bad \ufffd\ufffd utf8"]
    for t in range(4):
        assert [b for b in text if b.startswith(f"thread-{t} ")] == [
            f"thread-{t} line-{i}" for i in range(50)
        ]
    progress = [b for b in text if b.startswith("progress")]
    assert progress == ["progress 100.0%"]  # 1001 updates, one record
    waiting = next(r for r in out if r["body"] == "waiting for input: ")
    assert waiting["log_attributes"]["tasklogs.line.partial"] in TRUTHY
    after = text[text.index("waiting for input: ") :]
    assert after[:2] == ["waiting for input: ", "answer"]
    pieces = [r for r in out if r["body"].startswith("x")]
    assert [p["body"] for p in pieces] == [
        "x" * 100 + SPLIT_MARKER,
        "x" * 100 + SPLIT_MARKER,
        "x" * 50,
    ]
    assert [p["log_attributes"]["tasklogs.line.part"] for p in pieces] == ["1", "2", "3"]
    assert pieces[-1]["log_attributes"]["tasklogs.line.original_length"] == "250"
    assert text[-1] == "tail without newline"
    assert out[-1]["log_attributes"]["tasklogs.line.partial"] in TRUTHY
    assert bodies(records, "tasklogs.stderr") == ["to stderr"]
    assert bodies(records, "app") == ["a log record"]


FD_SCRIPT = r"""
import ctypes, os, subprocess, sys
import otel_sdk_ext
otel_sdk_ext.configure(capture_fds=True, partial_line_flush_ms=200)
print("python print")
os.write(1, b"raw fd write\n")
subprocess.run(["sh", "-c", "echo from a child process; echo child err >&2"], check=True)
libc = ctypes.CDLL(None)
libc.puts(b"from C puts")
libc.fflush(None)
os.write(2, b"raw stderr\n")
"""


def test_fd_level_capture_sees_c_code_and_child_processes(service: RunningService) -> None:
    run_id = new_run_id("fd")
    proc = run_python(FD_SCRIPT, child_env(service, run_id))
    assert proc.returncode == 0, proc.stderr.decode()
    for line in (b"python print\n", b"raw fd write\n", b"from a child process\n", b"from C puts\n"):
        assert line in proc.stdout  # still on the terminal
    assert proc.stderr == b"child err\nraw stderr\n"
    records = service.wait_for(run_id, 6)
    assert bodies(records, "tasklogs.stdout") == [
        "python print",
        "raw fd write",
        "from a child process",
        "from C puts",
    ]
    assert bodies(records, "tasklogs.stderr") == ["child err", "raw stderr"]
    assert sorted(int(r["seq"]) for r in records) == list(range(1, 7))
