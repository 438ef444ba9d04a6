from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from collector_service.component.model import LogBatch
from collector_service.component.store import Cursor, HistoryQuery
from collector_service.errors import ConfigError, StoreBusyError
from tasklogs_clickhouse import ClickHouseConfig, ClickHouseExporter

BASE_NS = 1_795_000_000_000_000_000


def batch_for(task_run_id: str, n: int, *, start: int = 1, service: str = "svc") -> LogBatch:
    b = LogBatch()
    resource = {
        "service.name": service,
        "cicd.pipeline.task.run.id": task_run_id,
        "cicd.pipeline.run.id": "run-1",
    }
    for seq in range(start, start + n):
        b.timestamp.append(BASE_NS + seq * 1000)
        b.trace_id.append("")
        b.span_id.append("")
        b.trace_flags.append(0)
        b.severity_text.append("INFO")
        b.severity_number.append(9)
        b.service_name.append(service)
        b.body.append(f"line {seq} ✓")
        b.resource_schema_url.append("")
        b.resource_attributes.append(resource)
        b.scope_schema_url.append("")
        b.scope_name.append("tasklogs.stdout")
        b.scope_version.append("")
        b.scope_attributes.append({})
        b.log_attributes.append({"tasklogs.seq": str(seq)})
        b.event_name.append("")
    return b


def read_all(store: ClickHouseExporter, task_run_id: str, page: int = 1000) -> list[int]:
    seqs: list[int] = []
    after: Cursor | None = None
    while True:
        result = store.query(HistoryQuery(task_run_id=task_run_id, after=after, limit=page))
        seqs.extend(r.seq for r in result.records)
        if result.next_cursor is None:
            return seqs
        after = result.next_cursor


def test_schema_creation_is_idempotent(clickhouse_dsn: str, database: str) -> None:
    for _ in range(2):
        config = ClickHouseConfig.model_validate({"database": database, "ttl": "168h"})
        with ClickHouseExporter(config, clickhouse_dsn):
            pass


def test_rows_round_trip_in_seq_order_with_pagination(store: ClickHouseExporter) -> None:
    # Written out of order and across several inserts; read back in seq order.
    store.push(batch_for("tr-a", 600, start=401))
    store.push(batch_for("tr-a", 400, start=1))
    store.push(batch_for("tr-b", 10))
    assert read_all(store, "tr-a", page=333) == list(range(1, 1001))
    assert read_all(store, "tr-b") == list(range(1, 11))
    assert read_all(store, "tr-none") == []


def test_stored_record_keeps_every_field(store: ClickHouseExporter) -> None:
    b = batch_for("tr-f", 1)
    b.trace_id[0] = "0102030405060708090a0b0c0d0e0f10"
    b.span_id[0] = "0102030405060708"
    b.event_name[0] = "tasklogs.task.end"
    store.push(b)
    (rec,) = store.query(HistoryQuery(task_run_id="tr-f")).records
    assert rec.timestamp_ns == BASE_NS + 1000
    assert rec.body == "line 1 ✓"
    assert (rec.severity_text, rec.severity_number) == ("INFO", 9)
    assert rec.trace_id == "0102030405060708090a0b0c0d0e0f10"
    assert rec.span_id == "0102030405060708"
    assert rec.event_name == "tasklogs.task.end"
    assert rec.resource_attributes["cicd.pipeline.run.id"] == "run-1"
    assert rec.log_attributes == {"tasklogs.seq": "1"}


def test_a_full_page_returns_a_cursor_and_the_last_page_none(store: ClickHouseExporter) -> None:
    store.push(batch_for("tr-p", 10))
    first = store.query(HistoryQuery(task_run_id="tr-p", limit=10))
    assert first.next_cursor is not None
    assert first.next_cursor == Cursor(10, BASE_NS + 10_000, "tr-p", first.records[-1].line_id)
    rest = store.query(HistoryQuery(task_run_id="tr-p", after=first.next_cursor, limit=10))
    assert rest.records == []
    assert rest.next_cursor is None


def test_contrib_created_table_is_accepted(
    store: ClickHouseExporter, clickhouse_dsn: str, database: str
) -> None:
    # The contrib exporter's own DDL, without tasklogs' materialized columns or EventName.
    client = store._require_client()
    client.command(f"""
        CREATE TABLE `{database}`.contrib_logs (
            Timestamp DateTime64(9), TimestampTime DateTime DEFAULT toDateTime(Timestamp),
            TraceId String, SpanId String, TraceFlags UInt8,
            SeverityText LowCardinality(String), SeverityNumber UInt8,
            ServiceName LowCardinality(String), Body String,
            ResourceSchemaUrl LowCardinality(String),
            ResourceAttributes Map(LowCardinality(String), String),
            ScopeSchemaUrl LowCardinality(String), ScopeName String,
            ScopeVersion LowCardinality(String),
            ScopeAttributes Map(LowCardinality(String), String),
            LogAttributes Map(LowCardinality(String), String)
        ) ENGINE = MergeTree PARTITION BY toDate(TimestampTime)
        ORDER BY (ServiceName, TimestampTime, Timestamp)""")
    store.shutdown()
    contrib = ClickHouseExporter(
        ClickHouseConfig(database=database, table="contrib_logs", create_schema=False),
        clickhouse_dsn,
    )
    with contrib:
        contrib.push(batch_for("tr-c", 50))
        assert read_all(contrib, "tr-c", page=20) == list(range(1, 51))


def test_invalid_identifiers_never_reach_sql() -> None:
    with pytest.raises(ValueError, match="not a valid identifier"):
        ClickHouseConfig(table="otel_logs`; DROP TABLE x")
    from tasklogs_clickhouse._sql import quote_identifier

    with pytest.raises(ConfigError):
        quote_identifier("a-b")


def test_a_second_owner_of_a_chdb_directory_gets_a_clear_error(tmp_path: Path) -> None:
    # Another process holds the directory's lock (as a running `tasklogs serve` would).
    path = tmp_path / "chdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; "
            "from tasklogs_clickhouse import _ownership; "
            f"_ownership.acquire(Path({str(path)!r})); print('held', flush=True); "
            "sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(
            StoreBusyError,
            match=rf"chDB directory {path} is owned by another process \(pid {holder.pid}\)",
        ):
            ClickHouseExporter(ClickHouseConfig(), f"chdb://{path}").start()
    finally:
        holder.communicate("", timeout=30)


def test_exporters_of_one_process_share_its_chdb_directory(store: ClickHouseExporter) -> None:
    if not store.embedded:
        pytest.skip("ownership applies to the embedded engine only")
    second = ClickHouseExporter(store.config, store.dsn)
    with second:
        second.push(batch_for("tr-s", 3))
    assert read_all(store, "tr-s") == [1, 2, 3]


def test_concurrent_reads_and_writes(store: ClickHouseExporter) -> None:
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for _ in range(20):
                store.query(HistoryQuery(task_run_id="tr-x", limit=100))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(10):
        store.push(batch_for("tr-x", 100, start=i * 100 + 1))
    for t in threads:
        t.join()
    assert errors == []
    assert read_all(store, "tr-x") == list(range(1, 1001))


def test_filter_values_are_parameters_not_sql(store: ClickHouseExporter) -> None:
    store.push(batch_for("tr-q", 3))
    hostile = "x' OR 1=1) --"
    for q in (
        HistoryQuery(task_run_id=hostile),
        HistoryQuery(pipeline_run_id=hostile),
        HistoryQuery(task_run_id="tr-q", text=hostile, attributes={hostile: hostile}),
        HistoryQuery(task_run_id="tr-q", tenant=hostile, task_name=hostile),
    ):
        assert store.query(q).records == []
    assert read_all(store, "tr-q") == [1, 2, 3]


def test_a_task_page_is_a_primary_key_range_read_in_order(store: ClickHouseExporter) -> None:
    from tasklogs_clickhouse import _history

    store.push(batch_for("tr-e", 10))
    for q in (
        HistoryQuery(task_run_id="tr-e", limit=5),
        HistoryQuery(task_run_id="tr-e", after=Cursor(3, BASE_NS + 3000, "tr-e")),
        HistoryQuery(task_run_id="tr-e", newest=True),
    ):
        sql, params = _history.build(q, store._columns, store.schema.table)
        plan = "\n".join(
            str(r[0])
            for r in store._require_client()
            .query(f"EXPLAIN indexes = 1 {sql}", parameters=params)
            .result_rows
        )
        assert "Read type: InOrder" in plan or "Read type: InReverseOrder" in plan, plan
        assert "TaskRunId in ['tr-e', 'tr-e']" in plan, plan
        if q.after is not None:  # the cursor narrows the key range too
            assert "Seq in [4, +Inf)" in plan, plan
