"""PostgreSQL store: daily range partitions, binary COPY writes, history queries.

Registered as the ``postgres`` exporter through the ``tasklogs.exporters`` entry point.
"""

from __future__ import annotations

from pydantic import BaseModel

from collector_service.component.exporter import ExporterContext
from tasklogs_postgres.config import PostgresConfig
from tasklogs_postgres.exporter import PostgresExporter

__all__ = ["PostgresConfig", "PostgresExporter", "PostgresFactory", "factory"]


class PostgresFactory:
    """Builds :class:`PostgresExporter` from a validated :class:`PostgresConfig`."""

    type_name = "postgres"
    config_model: type[BaseModel] = PostgresConfig

    def create(self, config: BaseModel, context: ExporterContext) -> PostgresExporter:
        if not isinstance(config, PostgresConfig):
            raise TypeError(f"expected PostgresConfig, got {type(config).__name__}")
        return PostgresExporter(config)


factory = PostgresFactory()
