"""`tasklogs worker` fails at start-up with a message naming the key, before any I/O."""

from __future__ import annotations

from pathlib import Path

from tests.support import tasklogs


def _config(tmp_path: Path, redis: bool) -> str:
    path = tmp_path / "c.yaml"
    text = "exporters: {clickhouse: {}}\n"
    if redis:
        text += "redis: {url: 'redis://127.0.0.1:6379/0', key_prefix: unused}\n"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_unknown_exporter_is_named(tmp_path: Path) -> None:
    proc = tasklogs("worker", "--config", _config(tmp_path, True), "--exporter", "kafka")
    assert proc.returncode == 1
    assert "exporters.kafka" in proc.stderr


def test_worker_needs_redis(tmp_path: Path) -> None:
    proc = tasklogs("worker", "--config", _config(tmp_path, False), "--data-dir", str(tmp_path))
    assert proc.returncode == 1
    assert "redis: not configured" in proc.stderr
