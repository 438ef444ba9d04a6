"""A test-only exporter plugin: the real ClickHouse (chDB) store behind an outage switch.

Registered through a real ``tasklogs.exporters`` entry point (a ``dist-info`` directory the
durability test puts on the worker's ``PYTHONPATH``). While ``outage_file`` exists, every
push fails like a store that refuses connections; otherwise it writes to chDB.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from collector_service.component.exporter import ExporterContext
from collector_service.component.model import LogBatch
from collector_service.errors import RetryableExportError
from tasklogs_clickhouse import ClickHouseConfig, ClickHouseExporter

__all__ = ["FlakyConfig", "FlakyStore", "factory"]


class FlakyConfig(ClickHouseConfig):
    outage_file: Path


class FlakyStore(ClickHouseExporter):
    def __init__(self, config: FlakyConfig, dsn: str) -> None:
        super().__init__(config, dsn)
        self.outage_file = config.outage_file

    def push(self, batch: LogBatch) -> None:
        if self.outage_file.exists():
            raise RetryableExportError("store unavailable: connection refused (simulated)")
        super().push(batch)


class _Factory:
    type_name = "flaky"
    config_model: type[BaseModel] = FlakyConfig

    def create(self, config: BaseModel, context: ExporterContext) -> FlakyStore:
        assert isinstance(config, FlakyConfig)
        return FlakyStore(config, config.resolved_dsn(context.data_dir))


factory = _Factory()
