from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from collector_service.component.exporter import load_factories
from collector_service.errors import ConfigError
from collector_service.pipeline.config import split_exporter_config
from tasklogs_postgres import PostgresConfig, PostgresFactory, factory
from tasklogs_postgres.config import redact_dsn

DSN = "postgresql://127.0.0.1:5432/test"


def test_defaults_and_yaml_names() -> None:
    config = PostgresConfig.model_validate(
        {"dsn": DSN, "schema": "logs", "ttl": "168h", "maintenance_interval": "5m"}
    )
    assert (config.db_schema, config.table) == ("logs", "otel_logs")
    assert config.ttl == timedelta(days=7)
    assert config.maintenance_interval == timedelta(minutes=5)
    assert config.partitions_ahead == 2
    assert config.text_index == "trgm"


@pytest.mark.parametrize(
    "section",
    [
        {},  # dsn is required
        {"dsn": "not a dsn!!"},
        {"dsn": DSN, "schema": "bad-name"},
        {"dsn": DSN, "table": 'x"; DROP TABLE y; --'},
        {"dsn": DSN, "table": "t" * 41},
        {"dsn": DSN, "ttl": "0s"},
        {"dsn": DSN, "partitions_ahead": -1},
        {"dsn": DSN, "pool_min_size": 5, "pool_max_size": 2},
        {"dsn": DSN, "text_index": "fulltext"},
        {"dsn": DSN, "unknown": 1},
    ],
)
def test_invalid_config_is_refused_before_any_io(section: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PostgresConfig.model_validate(section)


def test_service_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"exporters\.postgres"):
        split_exporter_config("postgres", {"dsn": DSN, "ttl": "soon"}, PostgresConfig)


def test_factory_is_registered_as_an_entry_point() -> None:
    found = load_factories()["postgres"]
    assert found is factory
    assert isinstance(found, PostgresFactory)
    assert found.config_model is PostgresConfig


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("postgresql://u:s3cret@db:5432/logs", "postgresql://u:***@db:5432/logs"),
        ("postgresql://db/logs?password=s3cret", "postgresql://db/logs?password=***"),
        ("host=db dbname=logs password=s3cret", "host=db dbname=logs password=***"),
    ],
)
def test_redacted_dsn_hides_the_password(dsn: str, shown: str) -> None:
    assert "s3cret" not in redact_dsn(dsn)
    assert set(redact_dsn(dsn).split()) == set(shown.split())


def test_retention_defaults_to_seven_days_and_none_keeps_everything() -> None:
    assert PostgresConfig.model_validate({"dsn": DSN}).ttl == timedelta(days=7)
    assert PostgresConfig.model_validate({"dsn": DSN, "ttl": "none"}).ttl is None
    assert PostgresConfig.model_validate({"dsn": DSN, "ttl": "None"}).ttl is None
    assert PostgresConfig.model_validate({"dsn": DSN, "ttl": "720h"}).ttl == timedelta(days=30)
