"""Query-side behaviour beyond the shared contract suite (tests/stores/)."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from psycopg import sql

from collector_service.component.store import HistoryQuery
from collector_service.errors import StoreError
from tasklogs_postgres import PostgresConfig, PostgresExporter
from tests.exporters.postgres._batches import BASE_NS, batch_at


def test_an_invalid_regex_is_a_store_error(pg_store: PostgresExporter) -> None:
    pg_store.push(batch_at([BASE_NS]))
    # RE2 refuses it before any store sees it (PatternError, a StoreError).
    with pytest.raises(StoreError, match="invalid regular expression"):
        pg_store.query(HistoryQuery(task_run_id="tr-1", include="(unclosed"))


def test_a_store_that_is_not_started_says_so(make_config: Callable[..., PostgresConfig]) -> None:
    with pytest.raises(StoreError, match="not started"):
        PostgresExporter(make_config()).query(HistoryQuery(task_run_id="x"))


def test_time_bounds_are_exact_in_nanoseconds(pg_store: PostgresExporter) -> None:
    # Three rows inside one microsecond: the microsecond column alone cannot tell them apart.
    pg_store.push(batch_at([BASE_NS + 1, BASE_NS + 2, BASE_NS + 3]))
    page = pg_store.query(HistoryQuery(task_run_id="tr-1", since_ns=BASE_NS + 2))
    assert [r.timestamp_ns for r in page.records] == [BASE_NS + 2, BASE_NS + 3]
    page = pg_store.query(HistoryQuery(task_run_id="tr-1", until_ns=BASE_NS + 3))
    assert [r.timestamp_ns for r in page.records] == [BASE_NS + 1, BASE_NS + 2]


def test_old_batch_tokens_are_forgotten_after_the_dedup_window(
    make_config: Callable[..., PostgresConfig], pg_dsn: str, pg_schema: str
) -> None:
    ledger = sql.Identifier(pg_schema, "otel_logs_batches")
    with PostgresExporter(make_config(dedup_window="1h")) as store:
        store.push(batch_at([BASE_NS], token="old"))
        store.push(batch_at([BASE_NS], token="new"))
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL(
                    "UPDATE {} SET written_at = now() - interval '2 hours' WHERE token = 'old'"
                ).format(ledger)
            )
            store.run_maintenance()
            tokens = conn.execute(sql.SQL("SELECT token FROM {}").format(ledger)).fetchall()
    assert tokens == [("new",)]
