"""ClickHouse store: the ``otel_logs`` table, columnar writes, history queries.

Registered as the ``clickhouse`` exporter through the ``tasklogs.exporters`` entry point.
"""

from __future__ import annotations

from pydantic import BaseModel

from collector_service.component.exporter import ExporterContext
from tasklogs_clickhouse.config import ClickHouseConfig
from tasklogs_clickhouse.exporter import ClickHouseExporter

__all__ = ["ClickHouseConfig", "ClickHouseExporter", "ClickHouseFactory", "factory"]


class ClickHouseFactory:
    """Builds :class:`ClickHouseExporter` from a validated :class:`ClickHouseConfig`."""

    type_name = "clickhouse"
    config_model: type[BaseModel] = ClickHouseConfig

    def create(self, config: BaseModel, context: ExporterContext) -> ClickHouseExporter:
        if not isinstance(config, ClickHouseConfig):
            raise TypeError(f"expected ClickHouseConfig, got {type(config).__name__}")
        return ClickHouseExporter(config, config.resolved_dsn(context.data_dir))


factory = ClickHouseFactory()
