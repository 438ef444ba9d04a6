"""The schema statements for a :class:`ClickHouseConfig`, single node or cluster.

Single node: ``MergeTree`` with ``non_replicated_deduplication_window`` (so a replayed
batch with the same ``insert_deduplication_token`` is stored once). Cluster
(``cluster_name``): every statement ``ON CLUSTER``, a ``ReplicatedMergeTree`` table
``<table>_local`` on each node (replicated tables deduplicate inserts by default) and a
``Distributed`` table ``<table>`` that writers and readers use.
"""

from __future__ import annotations

from dataclasses import dataclass

from tasklogs_clickhouse._sql import qualified, quote_identifier, render
from tasklogs_clickhouse.config import ClickHouseConfig

__all__ = [
    "ADDED_COLUMNS",
    "BODY_INDEXES",
    "MATERIALIZED_RESOURCE",
    "RUN_PROJECTION_DDL",
    "TIME_INDEX",
    "Schema",
    "body_index_kind",
]

#: The contrib exporter's (v0.151+) materialized resource attribute columns.
MATERIALIZED_RESOURCE: tuple[str, ...] = tuple(
    f"`__otel_materialized_{key}` LowCardinality(String) "
    f"MATERIALIZED ResourceAttributes['{key}'] CODEC(ZSTD(1))"
    for key in (
        "k8s.cluster.name",
        "k8s.container.name",
        "k8s.deployment.name",
        "k8s.namespace.name",
        "k8s.node.name",
        "k8s.pod.name",
        "k8s.pod.uid",
        "deployment.environment.name",
    )
)
#: A projection index (only ``Timestamp`` and the row's offset, sorted by time): the sort
#: key groups rows by task run, so a time range across task runs (Grafana's time filter)
#: would otherwise read every granule of its days; this finds its rows by binary search.
#: The engine uses it for tables past ``min_table_rows_to_use_projection_index`` rows.
TIME_INDEX = "PROJECTION idx_time (SELECT _part_offset ORDER BY Timestamp)"
#: Columns the contrib table lacks that tasklogs writes (collector_service's
#: OPTIONAL_COLUMNS): what the OTel data model has and the contrib exporter drops.
ADDED_COLUMNS: tuple[str, ...] = (
    "ObservedTimestamp DateTime64(9) CODEC(Delta(8), ZSTD(1))",
    "DroppedAttributesCount UInt32 CODEC(ZSTD(1))",
    "ResourceDroppedAttributesCount UInt32 CODEC(ZSTD(1))",
    "ScopeDroppedAttributesCount UInt32 CODEC(ZSTD(1))",
)

#: The ``Body`` skip index per kind: the text (inverted) index where the engine has one,
#: the contrib exporter's token bloom filter otherwise.
BODY_INDEXES = {
    "text": "INDEX idx_body Body TYPE text(tokenizer = splitByNonAlpha)",
    "tokenbf": "INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8",
    "none": "",
}
#: A pipeline run's history in its order (``_history.RUN_PROJECTION`` names it).
RUN_PROJECTION_DDL = (
    "PROJECTION by_run (SELECT * ORDER BY (PipelineRunId, Timestamp, TaskRunId, Seq, LineId))"
)
_REPLICATED = "ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')"


def body_index_kind(configured: str, engine_has_text_index: bool) -> str:
    """The body index to create: ``auto`` resolves by what the engine supports."""
    if configured == "auto":
        return "text" if engine_has_text_index else "tokenbf"
    return configured


@dataclass(frozen=True, slots=True)
class Schema:
    """Names and DDL of the store's tables for one config."""

    config: ClickHouseConfig

    @property
    def clustered(self) -> bool:
        return self.config.cluster_name is not None

    @property
    def table(self) -> str:
        """The table inserts and queries address (the Distributed one on a cluster)."""
        return qualified(self.config.database, self.config.table)

    @property
    def storage_table_name(self) -> str:
        """The (local) MergeTree table that holds the rows: system.parts lists it."""
        return f"{self.config.table}_local" if self.clustered else self.config.table

    @property
    def storage_table(self) -> str:
        return qualified(self.config.database, self.storage_table_name)

    @property
    def index_table(self) -> str:
        """The runs index (one row per task run, see ``sql/create_task_runs.sql``)."""
        return qualified(self.config.database, f"{self.config.table}_task_runs")

    @property
    def index_view(self) -> str:
        return qualified(self.config.database, f"{self.config.table}_task_runs_mv")

    def index_ttl(self) -> str:
        """Index rows go with the last of their task run's lines, under the table's TTL
        (none beside a table another writer created: its retention is not ours)."""
        ttl = self.config.ttl
        if ttl is None or not self.config.create_schema:
            return ""
        return f"TTL toDateTime(LastTs) + toIntervalSecond({int(ttl.total_seconds())})"

    def _on_cluster(self) -> str:
        name = self.config.cluster_name
        return f"ON CLUSTER {quote_identifier(name, what='cluster')}" if name else ""

    def statements(self, body_index: str, time_index: bool = False) -> list[str]:
        """CREATE statements, in order; each is idempotent (``IF NOT EXISTS``).

        ``time_index``: add :data:`TIME_INDEX`, the projection index that serves a time
        range across task runs (the engine must have projection indexes, ClickHouse 25.6+).
        """
        cfg, on_cluster = self.config, self._on_cluster()
        out = []
        if cfg.database != "default":
            out.append(
                render(
                    "create_database",
                    database=quote_identifier(cfg.database, what="database"),
                    on_cluster=on_cluster,
                )
            )
        ttl = ""
        if cfg.ttl is not None:
            ttl = f"TTL toDateTime(Timestamp) + toIntervalSecond({int(cfg.ttl.total_seconds())})"
        index = BODY_INDEXES[body_index]
        settings = ""
        if not self.clustered:
            settings = f", non_replicated_deduplication_window = {int(cfg.dedup_window)}"
        out.append(
            render(
                "create_table",
                table=self.storage_table,
                on_cluster=on_cluster,
                engine=_REPLICATED if self.clustered else "MergeTree",
                body_index=(f",\n    {index}" if index else "")
                + (f",\n    {TIME_INDEX}" if time_index else ""),
                materialized_resource="".join(f"    {c},\n" for c in MATERIALIZED_RESOURCE)[:-1],
                added_columns="".join(f"    {c},\n" for c in ADDED_COLUMNS)[:-1],
                projection=f",\n    {RUN_PROJECTION_DDL}" if cfg.run_projection else "",
                ttl=ttl,
                settings=settings,
            )
        )
        if self.clustered:
            assert cfg.cluster_name is not None
            out.append(
                render(
                    "create_distributed",
                    table=self.table,
                    on_cluster=on_cluster,
                    local_table=self.storage_table,
                    cluster=quote_identifier(cfg.cluster_name, what="cluster"),
                    database=quote_identifier(cfg.database, what="database"),
                    local_name=quote_identifier(self.storage_table_name, what="table"),
                )
            )
        return out

    def upgrade_statements(self) -> list[str]:
        """``ADD COLUMN IF NOT EXISTS`` for every column added since the first schema, on
        the storage table and (cluster) the Distributed one: a table an older tasklogs
        created gains them in place (idempotent, metadata only)."""
        on_cluster = self._on_cluster()
        tables = [self.storage_table, self.table] if self.clustered else [self.table]
        return [
            render("add_column", table=table, on_cluster=on_cluster, column=column)
            for table in tables
            for column in (*MATERIALIZED_RESOURCE, *ADDED_COLUMNS)
        ]

    def rows_source(self) -> str:
        """The rows with their ``_partition_id``: the table, or every replica's local one."""
        name = self.config.cluster_name
        if name is None:
            return self.storage_table
        return (
            f"clusterAllReplicas({quote_identifier(name, what='cluster')}, "
            f"{quote_identifier(self.config.database, what='database')}, "
            f"{quote_identifier(self.storage_table_name, what='table')})"
        )

    def parts_source(self) -> str:
        """Where active parts are listed: this node, or every replica of the cluster."""
        name = self.config.cluster_name
        if name is None:
            return "system.parts"
        return f"clusterAllReplicas({quote_identifier(name, what='cluster')}, system.parts)"
