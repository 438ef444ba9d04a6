"""Delivery from real child processes: outages, drops, bounded exit, signals, forks."""

from __future__ import annotations

import re
import time
from collections import defaultdict
from pathlib import Path
from typing import NoReturn

import pytest

from tests.otel_sdk_ext._proc import (
    bodies,
    child_env,
    events,
    new_run_id,
    ordered,
    run_python,
    start_python,
    start_service_again,
    stop_service,
    wait_for_end,
)
from tests.support import RunningService, free_port

pytestmark = pytest.mark.e2e


def test_collector_stopped_for_5_s_mid_task_loses_nothing(
    service: RunningService, tmp_path: Path
) -> None:
    run_id = new_run_id("outage")
    n = 400
    try:
        with start_python(
            f"""
            import logging, sys, time, otel_sdk_ext
            logging.basicConfig()  # a StreamHandler on the captured stderr: a trap for
            # exporter complaints that would otherwise come back as records
            with otel_sdk_ext.task(flush_timeout_s=30):
                for i in range({n}):
                    print(f"line {{i}}")
                    time.sleep(0.025)
            """,
            child_env(service, run_id),
        ) as proc:
            time.sleep(2.0)
            stop_service(service)
            time.sleep(5.0)
            start_service_again(service, tmp_path / "tasklogs.yaml")
            assert proc.wait(timeout=60) == 0
            stderr = proc.stderr.read() if proc.stderr else b""
        # Whether it had to say "cannot deliver" depends on timing: the OTLP exporter's
        # own retry may outlast the outage. What matters is below: nothing lost.
        records = ordered(wait_for_end(service, run_id, timeout=60))
    finally:
        # The fixture only knows the first `tasklogs serve`; stop the second one here.
        if service.process.poll() is None:
            stop_service(service)
    assert bodies(records, "tasklogs.stdout") == [f"line {i}" for i in range(n)]
    assert [int(r["seq"]) for r in records] == list(range(1, n + 3))  # + start, end
    assert bodies(records, "tasklogs.stderr") == []  # no exporter error came back
    assert b"Transient error" not in stderr
    (end,) = events(records, "tasklogs.task.end")
    assert end["log_attributes"]["tasklogs.dropped_records"] == "0"


def test_full_queue_drops_are_counted_in_the_end_record(service: RunningService) -> None:
    run_id = new_run_id("drops")
    proc = run_python(
        """
        import otel_sdk_ext
        with otel_sdk_ext.task(max_queue_size=50, schedule_delay_ms=1000) as tl:
            for i in range(3000):
                tl.emit_line("stdout", f"line {i}")
        """,
        child_env(service, run_id),
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"dropped because the queue was full" in proc.stderr
    records = wait_for_end(service, run_id)
    (end,) = events(records, "tasklogs.task.end")
    dropped = int(end["log_attributes"]["tasklogs.dropped_records"])
    assert dropped > 0
    stored = bodies(records, "tasklogs.stdout")
    assert len(stored) + dropped == 3000
    seqs = sorted(int(r["seq"]) for r in records)
    assert seqs[-1] - len(seqs) == dropped  # every drop is a visible gap


def test_unreachable_collector_bounds_the_exit_and_reports(tmp_path: Path) -> None:
    run_id = new_run_id("down")
    dead = f"http://127.0.0.1:{free_port()}"
    env = child_env(None, run_id, OTEL_EXPORTER_OTLP_ENDPOINT=dead, TASKLOGS_FLUSH_TIMEOUT_S="1")
    started = time.monotonic()
    proc = run_python(
        """
        import logging, sys, otel_sdk_ext
        logging.basicConfig()  # a StreamHandler on the (captured) stderr
        otel_sdk_ext.configure()
        for i in range(20):
            logging.getLogger("app").warning("line %d", i)
        """,
        env,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 0
    assert elapsed < 15  # the stock exporter alone retries ~7 s per batch
    err = proc.stderr.decode()
    assert "could not be delivered" in err
    assert "within the 1 s flush timeout" in err
    # The exporter's own complaints were not logged back into the pipeline or stderr
    # (the exit report names the last one as the cause).
    assert all(line.startswith("tasklogs:") for line in err.splitlines() if "Transient" in line)
    assert "already shutdown" not in err.lower()
    assert err.count("WARNING:app:line") == 20


SIGNAL_SCRIPT = r"""
import logging, os, signal, sys, threading, time
import otel_sdk_ext

log = logging.getLogger("app")
handled = 0

def on_usr1(signum, frame):
    global handled
    handled += 1
    log.warning("from the signal handler %d", handled)
    print(f"printed by the signal handler {handled}")

signal.signal(signal.SIGUSR1, on_usr1)
otel_sdk_ext.configure()

def pester():
    for _ in range(300):
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.001)

t = threading.Thread(target=pester)
t.start()
i = 0
while t.is_alive():
    log.info("main %d", i)
    print(f"main print {i}")
    i += 1
t.join()
time.sleep(0.1)
print(f"totals {i} {handled}", file=sys.stderr)

def late():
    logging.getLogger("late").warning("logged during interpreter shutdown")
    print("printed during interpreter shutdown")

import atexit
atexit.register(late)  # runs after our exit flush: must neither hang nor crash

def chatter():
    while True:
        log.info("daemon thread still logging")
        time.sleep(0.001)

threading.Thread(target=chatter, daemon=True).start()
time.sleep(0.05)
"""


def test_signal_handlers_and_interpreter_shutdown_do_not_deadlock(
    service: RunningService,
) -> None:
    run_id = new_run_id("signals")
    proc = run_python(SIGNAL_SCRIPT, child_env(service, run_id), timeout=90)
    assert proc.returncode == 0, proc.stderr.decode()
    totals = [ln for ln in proc.stderr.decode().splitlines() if ln.startswith("totals")]
    _, main_count, handled = totals[0].split()
    records = ordered(service.wait_for(run_id, 2 * int(main_count) + 2 * int(handled)))
    app = bodies(records, "app")
    assert [b for b in app if b.startswith("main")] == [f"main {i}" for i in range(int(main_count))]
    assert len([b for b in app if b.startswith("from the signal handler")]) == int(handled)
    # A handler's print can land between a print's text and its newline (as on the
    # terminal): count what was printed, not how it was cut into lines.
    printed = "\n".join(bodies(records, "tasklogs.stdout"))
    assert len(re.findall(r"printed by the signal handler \d+", printed)) == int(handled)
    assert len(re.findall(r"main print \d+", printed)) == int(main_count)
    seqs = [int(r["seq"]) for r in records]
    assert seqs == list(range(1, len(seqs) + 1))  # no gap, no duplicate


FORK_SCRIPT = r"""
import logging, multiprocessing, os, sys
import otel_sdk_ext

def work(n):
    for i in range(50):
        print(f"worker {n} print {i}")
        logging.getLogger("worker").info("worker %d log %d", n, i)

with otel_sdk_ext.task():
    print("parent before fork")
    pid = os.fork()
    if pid == 0:  # a gunicorn-style worker: plain fork, leaves through sys.exit
        for i in range(50):
            print(f"forked print {i}")
        sys.exit(0)  # inside the parent's task block: must not end the task
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=work, args=(n,)) for n in range(3)]
    for p in procs:
        p.start()
    os.waitpid(pid, 0)
    for p in procs:
        p.join()
        assert p.exitcode == 0
    print("parent after children")
"""


def test_forked_children_keep_shipping_with_unique_sequence_numbers(
    service: RunningService,
) -> None:
    run_id = new_run_id("fork")
    proc = run_python(FORK_SCRIPT, child_env(service, run_id), timeout=90)
    assert proc.returncode == 0, proc.stderr.decode()
    expected = 1 + 3 * 100 + 50 + 1 + 2
    records = ordered(service.wait_for(run_id, expected))
    seqs = [int(r["seq"]) for r in records]
    assert seqs == list(range(1, expected + 1))  # unique across processes, no gap
    out = bodies(records, "tasklogs.stdout")
    per_source: dict[str, list[str]] = defaultdict(list)
    for body in out + bodies(records, "worker"):
        per_source[" ".join(body.split()[:2])].append(body)
    for n in range(3):
        # each process's own lines in its own order
        assert per_source[f"worker {n}"][:50] == [f"worker {n} print {i}" for i in range(50)]
        assert sorted(per_source[f"worker {n}"][50:], key=lambda b: int(b.rsplit(" ", 1)[1])) == [
            f"worker {n} log {i}" for i in range(50)
        ]
    assert per_source["forked print"] == [f"forked print {i}" for i in range(50)]
    assert out[0] == "parent before fork"
    assert out[-1] == "parent after children"
    assert len(events(records, "tasklogs.task.end")) == 1  # children do not end the task


def test_a_refusing_collector_is_named_as_the_cause_at_exit() -> None:
    # A full backlog (RESOURCE_EXHAUSTED) past the flush timeout: the report says so, not
    # "Exporter already shutdown" (the SDK's own abort of the retry wait).
    from concurrent.futures import ThreadPoolExecutor

    import grpc

    def refuse(request: bytes, context: grpc.ServicerContext) -> NoReturn:
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "ingest stream is full")
        raise AssertionError("abort raises")

    handler = grpc.method_handlers_generic_handler(
        "opentelemetry.proto.collector.logs.v1.LogsService",
        {"Export": grpc.unary_unary_rpc_method_handler(refuse)},
    )
    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        env = child_env(
            None,
            new_run_id("full"),
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}",
            TASKLOGS_FLUSH_TIMEOUT_S="2",
        )
        proc = run_python(
            """
            import logging, otel_sdk_ext
            otel_sdk_ext.configure()
            logging.getLogger("app").warning("one line")
            """,
            env,
        )
    finally:
        server.stop(None)
    err = proc.stderr.decode()
    assert "could not be delivered" in err
    assert "RESOURCE_EXHAUSTED" in err, err
    assert "already shutdown" not in err.lower(), err
