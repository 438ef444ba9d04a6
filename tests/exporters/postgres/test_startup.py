"""Start-up: versioned re-runnable migrations, and clear errors naming the DSN."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from psycopg import sql

from collector_service.errors import ConfigError, RetryableExportError
from tasklogs_postgres import PostgresConfig, PostgresExporter
from tasklogs_postgres._schema import MIGRATIONS
from tests.support import free_port


def _migrations(dsn: str, schema: str) -> list[tuple[str, int, str]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            sql.SQL(
                "SELECT table_name, version, name FROM {}.schema_migrations ORDER BY version"
            ).format(sql.Identifier(schema))
        ).fetchall()
    return [(str(t), int(v), str(n)) for t, v, n in rows]


def test_migrations_are_versioned_and_rerunnable(
    make_config: Callable[..., PostgresConfig], pg_dsn: str, pg_schema: str
) -> None:
    for _ in range(3):
        with PostgresExporter(make_config()):
            pass
    assert list(range(1, len(MIGRATIONS) + 1)) == [m.version for m in MIGRATIONS]
    assert _migrations(pg_dsn, pg_schema) == [("otel_logs", m.version, m.name) for m in MIGRATIONS]


def test_optional_text_index_is_applied_when_enabled_later(
    make_config: Callable[..., PostgresConfig], pg_dsn: str, pg_schema: str
) -> None:
    with PostgresExporter(make_config(text_index="none")):
        pass
    assert "body_trgm" not in {n for _, _, n in _migrations(pg_dsn, pg_schema)}
    with PostgresExporter(make_config(text_index="trgm")):
        pass
    assert "body_trgm" in {n for _, _, n in _migrations(pg_dsn, pg_schema)}


def test_two_tables_in_one_schema_keep_separate_migrations(
    make_config: Callable[..., PostgresConfig], pg_dsn: str, pg_schema: str
) -> None:
    with PostgresExporter(make_config()), PostgresExporter(make_config(table="other_logs")):
        pass
    tables = {t for t, _, _ in _migrations(pg_dsn, pg_schema)}
    assert tables == {"otel_logs", "other_logs"}


def test_missing_database_names_the_dsn_without_its_password(pg_schema: str) -> None:
    dsn = "postgresql://root:s3cret-pw@127.0.0.1:5432/no_such_db_tasklogs"
    config = PostgresConfig.model_validate({"dsn": dsn, "schema": pg_schema})
    with pytest.raises(ConfigError) as info:
        PostgresExporter(config).start()
    message = str(info.value)
    assert "s3cret-pw" not in message
    assert "postgresql://root:***@127.0.0.1:5432/no_such_db_tasklogs" in message
    assert 'database "no_such_db_tasklogs" does not exist' in message


def test_unreachable_server_is_a_retryable_error_naming_the_dsn(pg_schema: str) -> None:
    dsn = f"postgresql://u:pw@127.0.0.1:{free_port()}/test"
    config = PostgresConfig.model_validate({"dsn": dsn, "schema": pg_schema})
    with pytest.raises(RetryableExportError, match=r"postgresql://u:\*\*\*@127\.0\.0\.1"):
        PostgresExporter(config).start()


def test_missing_table_without_create_schema_is_a_config_error(
    make_config: Callable[..., PostgresConfig],
) -> None:
    with pytest.raises(ConfigError, match=r"does not exist.*create_schema"):
        PostgresExporter(make_config(create_schema=False)).start()


def test_indexes_exist_for_task_time_severity_attributes_and_text(
    pg_store: PostgresExporter, pg_dsn: str, pg_schema: str
) -> None:
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s"
            " AND tablename = 'otel_logs'",
            (pg_schema,),
        ).fetchall()
    defs = {str(name): str(definition) for name, definition in rows}
    assert '("TaskRunId", "Seq", "TimestampNs", "LineId")' in defs["otel_logs_task_run_idx"]
    assert "USING brin" in defs["otel_logs_time_brin"]
    assert "SeverityNumber" in defs["otel_logs_severity_idx"]
    assert "USING gin" in defs["otel_logs_log_attributes_gin"]
    assert "USING gin" in defs["otel_logs_resource_attributes_gin"]
    assert "gin_trgm_ops" in defs["otel_logs_body_trgm"]


def test_a_table_of_an_older_tasklogs_gains_the_observed_and_dropped_columns(
    make_config: Callable[..., PostgresConfig], pg_dsn: str, pg_schema: str
) -> None:
    with PostgresExporter(make_config()):
        pass
    # As a tasklogs before migration observed_dropped left the table.
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        table = sql.Identifier(pg_schema, "otel_logs")
        for column in (
            "ObservedTimestampNs",
            "DroppedAttributesCount",
            "ResourceDroppedAttributesCount",
            "ScopeDroppedAttributesCount",
        ):
            conn.execute(
                sql.SQL("ALTER TABLE {} DROP COLUMN {}").format(table, sql.Identifier(column))
            )
        conn.execute(
            sql.SQL("DELETE FROM {}.schema_migrations WHERE name = 'observed_dropped'").format(
                sql.Identifier(pg_schema)
            )
        )
    with pytest.raises(ConfigError, match="lacks the columns of migration observed_dropped"):
        PostgresExporter(make_config(create_schema=False)).start()
    with PostgresExporter(make_config()) as store:  # migrates in place
        from collector_service.component.decode import decode_request
        from collector_service.component.store import HistoryQuery
        from tests.stores.test_fidelity import TASK, fidelity_request

        store.push(decode_request(fidelity_request()))
        (first, *_) = store.query(HistoryQuery(task_run_id=TASK, limit=3)).records
        assert first.observed_timestamp_ns > first.timestamp_ns
