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

__all__ = ["BODY_INDEXES", "Schema", "body_index_kind"]

#: The ``Body`` skip index per kind: the text (inverted) index where the engine has one,
#: the contrib exporter's token bloom filter otherwise.
BODY_INDEXES = {
    "text": "INDEX idx_body Body TYPE text(tokenizer = splitByNonAlpha)",
    "tokenbf": "INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8",
    "none": "",
}
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

    def statements(self, body_index: str) -> list[str]:
        """CREATE statements, in order; each is idempotent (``IF NOT EXISTS``)."""
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
            ttl = f"TTL TimestampTime + toIntervalSecond({int(cfg.ttl.total_seconds())})"
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
                body_index=f",\n    {index}" if index else "",
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
