"""The otel_logs schema: contrib-compatible columns, idempotent creation, cluster DDL."""

from __future__ import annotations

import pytest

from collector_service.errors import ConfigError
from tasklogs_clickhouse import ClickHouseConfig, ClickHouseExporter
from tasklogs_clickhouse._ddl import Schema, body_index_kind

#: The contrib ClickHouse exporter's current otel_logs columns and types (design.md).
CONTRIB_COLUMNS = {
    "Timestamp": "DateTime64(9)",
    "TimestampTime": "DateTime",
    "TraceId": "String",
    "SpanId": "String",
    "TraceFlags": "UInt8",
    "SeverityText": "LowCardinality(String)",
    "SeverityNumber": "UInt8",
    "ServiceName": "LowCardinality(String)",
    "Body": "String",
    "ResourceSchemaUrl": "LowCardinality(String)",
    "ResourceAttributes": "Map(LowCardinality(String), String)",
    "ScopeSchemaUrl": "LowCardinality(String)",
    "ScopeName": "String",
    "ScopeVersion": "LowCardinality(String)",
    "ScopeAttributes": "Map(LowCardinality(String), String)",
    "LogAttributes": "Map(LowCardinality(String), String)",
    "EventName": "String",
}


def _desc(store: ClickHouseExporter) -> dict[str, tuple[str, str, str]]:
    rows = store._require_client().query(f"DESC TABLE {store.schema.table}").result_rows
    return {str(r[0]): (str(r[1]), str(r[2]), str(r[3])) for r in rows}


def test_columns_are_the_contrib_ones_plus_materialized_identity(store: ClickHouseExporter) -> None:
    desc = _desc(store)
    assert {name: desc[name][0] for name in CONTRIB_COLUMNS} == CONTRIB_COLUMNS
    # TimestampTime: what Grafana's datasource (<= 4.20) filters on when it exists; an
    # alias of Timestamp, so that filter is a Timestamp range (no column of its own).
    assert desc["TimestampTime"][1:] == ("ALIAS", "toDateTime(Timestamp)")
    # The contrib v0.151+ materialized resource columns.
    for key in ("k8s.pod.name", "k8s.namespace.name", "deployment.environment.name"):
        column = desc[f"__otel_materialized_{key}"]
        assert column == ("LowCardinality(String)", "MATERIALIZED", f"ResourceAttributes['{key}']")
    # What the contrib table drops, kept here.
    assert desc["ObservedTimestamp"][0] == "DateTime64(9)"
    for name in ("", "Resource", "Scope"):
        assert desc[f"{name}DroppedAttributesCount"][0] == "UInt32"
    assert desc["TaskRunId"][1] == "MATERIALIZED"
    assert desc["PipelineRunId"][1] == "MATERIALIZED"
    assert (desc["Seq"][0], desc["Seq"][1]) == ("UInt64", "MATERIALIZED")


def test_table_has_sort_key_partitions_ttl_and_skip_indexes(
    clickhouse_dsn: str, database: str
) -> None:
    config = ClickHouseConfig.model_validate({"database": database, "ttl": "168h"})
    with ClickHouseExporter(config, clickhouse_dsn) as store:
        client = store._require_client()
        ((sorting_key, partition_key, ddl),) = client.query(
            "SELECT sorting_key, partition_key, create_table_query FROM system.tables "
            "WHERE database = {db:String} AND name = 'otel_logs'",
            parameters={"db": database},
        ).result_rows
        indexes = {
            str(r[0]): str(r[1])
            for r in client.query(
                "SELECT name, type FROM system.data_skipping_indices "
                "WHERE database = {db:String} AND table = 'otel_logs'",
                parameters={"db": database},
            ).result_rows
        }
        has_text = store._has_text_index()
    assert sorting_key == "TaskRunId, Seq, Timestamp, LineId"
    assert partition_key == "toDate(Timestamp)"
    assert "TTL toDateTime(Timestamp) + toIntervalSecond(604800)" in ddl
    assert "ttl_only_drop_parts = 1" in ddl
    assert "non_replicated_deduplication_window = 1000" in ddl
    assert indexes["idx_trace_id"] == "bloom_filter"
    for m in ("res", "scope", "log"):
        assert indexes[f"idx_{m}_attr_key"] == indexes[f"idx_{m}_attr_value"] == "bloom_filter"
    # The engine under test (chDB 4.4 = ClickHouse 26.9) has a text index: auto picks it.
    assert indexes["idx_body"] == ("text" if has_text else "tokenbf_v1")


def test_schema_creation_is_idempotent_and_keeps_rows(clickhouse_dsn: str, database: str) -> None:
    from tests.exporters.clickhouse.test_exporter import batch_for, read_all

    config = ClickHouseConfig.model_validate({"database": database, "ttl": "87600h"})
    with ClickHouseExporter(config, clickhouse_dsn) as first:
        first.push(batch_for("tr-i", 5))
    for _ in range(2):
        with ClickHouseExporter(config, clickhouse_dsn) as again:
            assert read_all(again, "tr-i") == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    ("configured", "has_text", "expected"),
    [
        ("auto", True, "text"),
        ("auto", False, "tokenbf"),
        ("tokenbf", True, "tokenbf"),
        ("none", True, "none"),
    ],
)
def test_body_index_choice(configured: str, has_text: bool, expected: str) -> None:
    assert body_index_kind(configured, has_text) == expected


@pytest.mark.parametrize("kind", ["tokenbf", "none"])
def test_other_body_indexes_create_working_tables(
    clickhouse_dsn: str, database: str, kind: str
) -> None:
    from tests.exporters.clickhouse.test_exporter import batch_for, read_all

    config = ClickHouseConfig.model_validate(
        {"database": database, "body_index": kind, "ttl": "none"}  # old timestamps in batch_for
    )
    with ClickHouseExporter(config, clickhouse_dsn) as store:
        store.push(batch_for("tr-k", 3))
        assert read_all(store, "tr-k") == [1, 2, 3]
        assert ("idx_body" in _desc_indexes(store)) == (kind != "none")


def _desc_indexes(store: ClickHouseExporter) -> set[str]:
    rows = (
        store._require_client()
        .query(
            "SELECT name FROM system.data_skipping_indices WHERE database = {db:String}",
            parameters={"db": store.config.database},
        )
        .result_rows
    )
    return {str(r[0]) for r in rows}


def test_cluster_mode_generates_on_cluster_replicated_and_distributed_ddl() -> None:
    config = ClickHouseConfig.model_validate(
        {"database": "logs", "table": "otel_logs", "cluster_name": "prod", "ttl": "24h"}
    )
    schema = Schema(config)
    create_db, create_local, create_dist = schema.statements("text")
    assert create_db.strip() == "CREATE DATABASE IF NOT EXISTS `logs` ON CLUSTER `prod`"
    assert "CREATE TABLE IF NOT EXISTS `logs`.`otel_logs_local` ON CLUSTER `prod`" in create_local
    assert (
        "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', "
        "'{replica}')" in create_local
    )
    assert "non_replicated_deduplication_window" not in create_local
    assert "TTL toDateTime(Timestamp) + toIntervalSecond(86400)" in create_local
    assert "CREATE TABLE IF NOT EXISTS `logs`.`otel_logs` ON CLUSTER `prod`" in create_dist
    assert "AS `logs`.`otel_logs_local`" in create_dist
    assert (
        "ENGINE = Distributed(`prod`, `logs`, `otel_logs_local`, "
        "cityHash64(ResourceAttributes['cicd.pipeline.task.run.id']))" in create_dist
    )
    # Writes and reads address the Distributed table; retention reads every replica.
    assert schema.table == "`logs`.`otel_logs`"
    assert schema.storage_table_name == "otel_logs_local"
    assert schema.parts_source() == "clusterAllReplicas(`prod`, system.parts)"
    assert schema.rows_source() == "clusterAllReplicas(`prod`, `logs`, `otel_logs_local`)"
    assert Schema(ClickHouseConfig(database="logs")).rows_source() == "`logs`.`otel_logs`"


def test_single_node_ddl_has_no_cluster_clause() -> None:
    statements = Schema(ClickHouseConfig(database="logs")).statements("tokenbf")
    assert all("ON CLUSTER" not in s and "Distributed" not in s for s in statements)
    assert "ENGINE = MergeTree" in statements[-1]
    assert "tokenbf_v1(32768, 3, 0)" in statements[-1]


def test_cluster_ddl_runs_on_chdb_with_the_cluster_clause_removed(
    clickhouse_dsn: str, database: str
) -> None:
    # chDB is single-node: prove the generated local-table DDL is valid SQL by running it
    # with a plain MergeTree engine (ON CLUSTER and Replicated need a real cluster).
    config = ClickHouseConfig.model_validate({"database": database, "cluster_name": "prod"})
    _, local, _ = Schema(config).statements("tokenbf")
    runnable = local.replace(" ON CLUSTER `prod`", "").replace(
        "ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')",
        "MergeTree",
    )
    with ClickHouseExporter(ClickHouseConfig(database=database), clickhouse_dsn) as store:
        store._require_client().command(runnable)
        assert "otel_logs_local" in {
            str(r[0])
            for r in store._require_client().query(f"SHOW TABLES FROM `{database}`").result_rows
        }


def test_invalid_cluster_name_is_refused() -> None:
    with pytest.raises(ValueError, match="not a valid identifier"):
        ClickHouseConfig(cluster_name="prod; DROP")
    # ``<table>_local`` must still be a valid identifier.
    with pytest.raises(ConfigError):
        Schema(ClickHouseConfig(table="t" * 125, cluster_name="c")).storage_table  # noqa: B018


def test_retention_defaults_to_seven_days_and_none_keeps_rows_forever() -> None:
    default = Schema(ClickHouseConfig(database="logs")).statements("tokenbf")
    assert any("TTL toDateTime(Timestamp) + toIntervalSecond(604800)" in s for s in default)
    forever = ClickHouseConfig.model_validate({"database": "logs", "ttl": "none"})
    assert forever.ttl is None
    assert not any("TTL toDateTime" in s for s in Schema(forever).statements("tokenbf"))
    explicit = ClickHouseConfig.model_validate({"ttl": "24h"})
    assert explicit.ttl is not None
    assert explicit.ttl.total_seconds() == 86_400


#: The table as tasklogs created it before the observed timestamp and the dropped counts.
_OLD_TASKLOGS_DDL = """
CREATE TABLE `{database}`.otel_logs (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TimestampTime DateTime DEFAULT toDateTime(Timestamp),
    TraceId String, SpanId String, TraceFlags UInt8,
    SeverityText LowCardinality(String), SeverityNumber UInt8,
    ServiceName LowCardinality(String), Body String,
    ResourceSchemaUrl LowCardinality(String),
    ResourceAttributes Map(LowCardinality(String), String),
    ScopeSchemaUrl LowCardinality(String), ScopeName String,
    ScopeVersion LowCardinality(String),
    ScopeAttributes Map(LowCardinality(String), String),
    LogAttributes Map(LowCardinality(String), String),
    EventName String,
    PipelineRunId String MATERIALIZED ResourceAttributes['cicd.pipeline.run.id'],
    TaskRunId String MATERIALIZED ResourceAttributes['cicd.pipeline.task.run.id'],
    Seq UInt64 MATERIALIZED toUInt64OrZero(LogAttributes['tasklogs.seq'])
) ENGINE = MergeTree PARTITION BY toDate(TimestampTime) ORDER BY (TaskRunId, Seq, Timestamp)
"""


def test_a_table_of_an_older_tasklogs_gains_the_new_columns(
    clickhouse_dsn: str, database: str
) -> None:
    from collector_service.component.decode import decode_request
    from collector_service.component.store import HistoryQuery
    from tests.exporters.clickhouse.test_exporter import batch_for
    from tests.stores.test_fidelity import TASK, fidelity_request

    config = ClickHouseConfig(database=database, ttl=None)
    with ClickHouseExporter(config, clickhouse_dsn) as store:  # creates the database
        client = store._require_client()
        client.command(f"DROP TABLE `{database}`.otel_logs")
        client.command(_OLD_TASKLOGS_DDL.format(database=database))
        store.shutdown()
    with ClickHouseExporter(config, clickhouse_dsn) as store:
        before = batch_for("tr-old", 3)
        store.push(before)
        store.push(decode_request(fidelity_request()))
        desc = _desc(store)
        assert desc["ObservedTimestamp"][0] == "DateTime64(9)"
        assert desc["__otel_materialized_k8s.pod.name"][1] == "MATERIALIZED"
        (first, *_) = store.query(HistoryQuery(task_run_id=TASK, limit=5)).records
        assert first.observed_timestamp_ns > first.timestamp_ns
        assert [r.seq for r in store.query(HistoryQuery(task_run_id="tr-old")).records] == [1, 2, 3]
