"""Memory bounds of the embedded engine (chDB): its caches, merges and total.

chDB runs the ClickHouse engine inside the tasklogs process with the server's defaults,
which size every cache against the machine's RAM: the mark cache, the primary-key cache
and the skip-index mark cache 5 GiB each, the text index caches 1-2 GiB each, and the
engine's total (``max_server_memory_usage``) 90 % of RAM. A long-lived ``tasklogs serve``
answering history queries fills those caches as it reads parts and never gives the memory
back, so its RSS would climb for hours. These bounds are passed to the engine when it
starts (chDB takes server settings in the connection string); a ClickHouse server keeps
its own configuration and ignores them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EngineMemory"]

_MIB = 1024 * 1024


class EngineMemory(BaseModel):
    """``exporters.clickhouse.engine``: memory bounds of the embedded chDB engine (MiB)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The engine's total (``max_server_memory_usage``): past it a query, merge or insert
    #: fails with MEMORY_LIMIT_EXCEEDED (an insert is retried, a query answers 503). 0:
    #: the engine's default, 90 % of the machine's RAM.
    max_memory_mib: int = Field(default=4096, ge=0)
    #: Merges stop starting new ones while they use more than this
    #: (``merges_mutations_memory_usage_soft_limit``); 0: half the RAM.
    merge_memory_mib: int = Field(default=1024, ge=0)
    #: Marks of the table's columns (``mark_cache_size``): what a read needs to seek.
    mark_cache_mib: int = Field(default=256, ge=0)
    #: Primary-key index of the parts read (``primary_index_cache_size``).
    primary_index_cache_mib: int = Field(default=128, ge=0)
    #: Marks of skip indexes (``index_mark_cache_size``): the Body index, the bloom filters.
    index_mark_cache_mib: int = Field(default=64, ge=0)
    #: Each of the text index's tokens, header and postings caches.
    text_index_cache_mib: int = Field(default=64, ge=0)
    #: Results of filters per granule (``query_condition_cache_size``).
    query_condition_cache_mib: int = Field(default=32, ge=0)

    def server_settings(self) -> dict[str, int]:
        """The engine's server settings (bytes), in the connection string of chDB."""
        out = {
            "mark_cache_size": self.mark_cache_mib * _MIB,
            "primary_index_cache_size": self.primary_index_cache_mib * _MIB,
            "index_mark_cache_size": self.index_mark_cache_mib * _MIB,
            "text_index_tokens_cache_size": self.text_index_cache_mib * _MIB,
            "text_index_header_cache_size": self.text_index_cache_mib * _MIB,
            "text_index_postings_cache_size": self.text_index_cache_mib * _MIB,
            "query_condition_cache_size": self.query_condition_cache_mib * _MIB,
        }
        if self.max_memory_mib:
            out["max_server_memory_usage"] = self.max_memory_mib * _MIB
        if self.merge_memory_mib:
            out["merges_mutations_memory_usage_soft_limit"] = self.merge_memory_mib * _MIB
        return out
