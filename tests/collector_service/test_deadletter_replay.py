"""`tasklogs deadletter replay` as a real process: idempotent, with progress and a summary."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from collector_service.pipeline.deadletter import FileDeadLetter, dead_letter_path
from tests.e2e.durability_support import count_rows, request
from tests.support import tasklogs


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "tasklogs.yaml"
    config.write_text(
        "exporters:\n  clickhouse: {}\n"
        "service:\n  pipelines:\n    logs: {receivers: [otlp], exporters: [clickhouse]}\n",
        encoding="utf-8",
    )
    return config


def test_replay_writes_every_dead_letter_once_and_removes_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    letters = FileDeadLetter(data)
    payloads = [(request(f"dl-{t}", 1, 50), None, 50) for t in range(4)]
    payloads.append((b"\xff not protobuf", None, 3))  # a poison request stays
    asyncio.run(letters.put("clickhouse", payloads, "export failed: disk full"))
    config = _config(tmp_path)

    first = tasklogs("deadletter", "replay", "--config", str(config), "--data-dir", str(data))
    assert first.returncode == 1, first.stderr  # the poison one is left
    assert "replayed 4 of 5 dead letters (200 records)" in first.stdout
    assert "kept deadletter" not in first.stdout
    assert "kept clickhouse.jsonl:5" in first.stdout
    assert "5/5 dead letters" in first.stderr  # progress
    assert len(letters.list("clickhouse", None)) == 1
    assert count_rows(data) == (200, 200)

    # Replayed again (the removal lost, e.g. a crash): the dedup token stores it once.
    asyncio.run(letters.put("clickhouse", payloads[:2], "again"))
    again = tasklogs(
        "deadletter", "replay", "-o", "json", "--config", str(config), "--data-dir", str(data)
    )
    summary = json.loads(again.stdout.splitlines()[-1])
    assert summary["replayed"] == 2
    assert summary["dead_letters"] == 3
    assert count_rows(data) == (200, 200)
    assert len(dead_letter_path(data, "clickhouse").read_text().splitlines()) == 1


def test_replay_of_an_unknown_exporter_names_it(tmp_path: Path) -> None:
    config = _config(tmp_path)
    proc = tasklogs(
        "deadletter", "replay", "--exporter", "nope", "--config", str(config),
        "--data-dir", str(tmp_path / "d"),
    )  # fmt: skip
    assert proc.returncode == 1
    assert "exporters.nope: not configured" in proc.stderr
