"""`tasklogs retention`: the configured store's report, as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.exporters.clickhouse.test_exporter import BASE_NS
from tests.support import tasklogs

_WRITE = """
import sys
from pathlib import Path
from tasklogs_clickhouse import ClickHouseConfig, ClickHouseExporter
from tests.exporters.clickhouse.test_exporter import batch_for
data = Path(sys.argv[1])
config = ClickHouseConfig.model_validate({"ttl": "87600h"})
with ClickHouseExporter(config, config.resolved_dsn(data)) as store:
    store.push(batch_for("tr-cli", 25))
"""


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "tasklogs.yaml"
    path.write_text(
        """
receivers:
  otlp: {protocols: {grpc: {endpoint: "127.0.0.1:0"}}}
exporters:
  clickhouse: {ttl: 87600h}
service:
  pipelines:
    logs: {receivers: [otlp], exporters: [clickhouse]}
""",
        encoding="utf-8",
    )
    return path


def test_retention_reports_the_configured_store(tmp_path: Path) -> None:
    data = tmp_path / "data"
    subprocess.run([sys.executable, "-c", _WRITE, str(data)], check=True, timeout=120)
    config = _config(tmp_path)

    proc = tasklogs("retention", "--json", "--config", str(config), "--data-dir", str(data))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["ttl_seconds"] == 3650 * 86_400
    assert sum(p["rows"] for p in report["partitions"]) == 25
    assert report["partitions"][0]["partition"] == "2026-11-18"
    assert report["oldest_ns"] == BASE_NS + 1000

    text = tasklogs("retention", "--config", str(config), "--data-dir", str(data))
    assert text.returncode == 0, text.stderr
    assert "ttl=315360000s" in text.stdout
    assert "otel_logs            2026-11-18" in text.stdout
    assert " 25 " in text.stdout


def test_retention_of_an_empty_store(tmp_path: Path) -> None:
    proc = tasklogs("retention", "--data-dir", str(tmp_path / "empty"))
    assert proc.returncode == 0, proc.stderr
    assert "oldest=-" in proc.stdout
