"""deploy/grafana: the datasource provisioning file and the dashboard's SQL, run for real.

Every query of the dashboard (panel targets and template variables) is extracted from the
JSON, its Grafana ClickHouse plugin macros expanded the way the plugin expands them, and
run against a real tasklogs table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from collector_service.component.model import LogBatch
from tasklogs_clickhouse import ClickHouseExporter
from tests.exporters.clickhouse.test_exporter import BASE_NS, batch_for

GRAFANA = Path(__file__).resolve().parents[3] / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "tasklogs.json"
DATASOURCE = GRAFANA / "provisioning" / "datasources" / "clickhouse.yaml"
SEC = 10**9


def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def _queries() -> dict[str, str]:
    dash = _dashboard()
    out = {p["title"]: t["rawSql"] for p in dash["panels"] for t in p["targets"]}
    for var in dash["templating"]["list"]:
        if var["type"] == "query":
            out[f"variable {var['name']}"] = var["query"]
    return out


def expand(sql: str, *, table: str, from_ns: int, to_ns: int, task_run_id: str) -> str:
    """The plugin's macros and the dashboard's variables, as Grafana would expand them."""
    frm, to = from_ns // SEC, to_ns // SEC
    sql = re.sub(
        r"\$__timeFilter\((\w+)\)",
        lambda m: f"{m[1]} >= toDateTime({frm}) AND {m[1]} <= toDateTime({to})",
        sql,
    )
    sql = re.sub(
        r"\$__timeInterval\((\w+)\)",
        lambda m: f"toStartOfInterval(toDateTime({m[1]}), INTERVAL 60 second)",
        sql,
    )
    quoted = "'" + task_run_id.replace("'", "''") + "'"  # Grafana's :sqlstring format
    sql = sql.replace("${task_run_id:sqlstring}", quoted).replace("${table}", table)
    assert "$" not in sql, f"unexpanded macro or variable in {sql}"
    return sql


@pytest.fixture
def filled(store: ClickHouseExporter) -> ClickHouseExporter:
    runs = (("nightly", "t-n1", 3), ("nightly", "t-n2", 1), ("ci", "t-c", 0))
    for pipeline, task, errors in runs:
        b: LogBatch = batch_for(task, 20)
        res = {**b.resource_attributes[0], "cicd.pipeline.name": pipeline}
        res["cicd.pipeline.run.id"] = f"{pipeline}-1"
        b.resource_attributes[:] = [res] * 20
        for i in range(errors):
            b.severity_number[i], b.severity_text[i] = 17, "ERROR"
        store.push(b)
    return store


def _run(store: ClickHouseExporter, name: str) -> list[Sequence[Any]]:
    sql = expand(
        _queries()[name],
        table=store.schema.table,
        from_ns=BASE_NS - 3600 * SEC,
        to_ns=BASE_NS + 3600 * SEC,
        task_run_id="t-n1",
    )
    return list(store._require_client().query(sql).result_rows)


def test_dashboard_has_the_three_views() -> None:
    titles = set(_queries())
    assert {
        "Log volume by severity",
        "Errors per pipeline",
        "Errors per pipeline over time",
        "Task run ${task_run_id}",
        "variable task_run_id",
    } <= titles


def test_log_volume_by_severity(filled: ClickHouseExporter) -> None:
    rows = _run(filled, "Log volume by severity")
    totals: dict[str, int] = {}
    for _, severity, lines in rows:
        totals[severity] = totals.get(severity, 0) + int(lines)
    assert totals == {"INFO": 56, "ERROR": 4}


def test_errors_per_pipeline(filled: ClickHouseExporter) -> None:
    rows = _run(filled, "Errors per pipeline")
    assert [(r[0], int(r[1]), int(r[2]), int(r[3])) for r in rows] == [("nightly", 4, 1, 2)]
    over_time = _run(filled, "Errors per pipeline over time")
    assert sum(int(r[2]) for r in over_time) == 4


def test_a_tasks_log_in_order(filled: ClickHouseExporter) -> None:
    rows = _run(filled, "Task run ${task_run_id}")
    assert [int(r[3]) for r in rows] == list(range(1, 21))
    assert rows[0][1] == "line 1 ✓"
    assert rows[0][2] == "ERROR"
    assert rows[0][4] == {"tasklogs.seq": "1"}


def test_task_run_variable_lists_task_runs(filled: ClickHouseExporter) -> None:
    assert {r[0] for r in _run(filled, "variable task_run_id")} == {"t-n1", "t-n2", "t-c"}


def test_task_run_id_is_quoted_not_injected(filled: ClickHouseExporter) -> None:
    sql = expand(
        _queries()["Task run ${task_run_id}"],
        table=filled.schema.table,
        from_ns=0,
        to_ns=0,
        task_run_id="x' OR '1'='1",
    )
    assert filled._require_client().query(sql).result_rows == []


def test_datasource_provisioning_matches_the_dashboard() -> None:
    provisioning = yaml.safe_load(DATASOURCE.read_text(encoding="utf-8"))
    (ds,) = provisioning["datasources"]
    assert ds["type"] == "grafana-clickhouse-datasource"
    assert ds["jsonData"]["port"] == 8123
    assert ds["jsonData"]["protocol"] == "http"
    assert ds["jsonData"]["logs"]["defaultTable"] == "otel_logs"
    assert ds["jsonData"]["logs"]["otelEnabled"] is True
    dash = _dashboard()
    uids = {t["datasource"]["uid"] for p in dash["panels"] for t in p["targets"]}
    assert uids == {ds["uid"]}
    dashboards = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "tasklogs.yaml").read_text(encoding="utf-8")
    )
    assert dashboards["providers"][0]["type"] == "file"
