"""The ClickHouse runs index beside a table another writer created (``create_schema: false``).

Off by default there (the store adds nothing to a table it did not create; the runs
routes then answer 503); with ``runs_index: true`` the view and index are added, rows
already in the table are indexed once, and new ones through the view, by map lookups.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import clickhouse_connect
import pytest

from collector_service.component.store import RunsQuery
from collector_service.errors import StoreError
from tasklogs_clickhouse import ClickHouseConfig, ClickHouseExporter
from tests.exporters.clickhouse.test_contrib_table import contrib_ddl
from tests.stores.test_index import batch


@pytest.fixture
def contrib_database(clickhouse_dsn: str) -> Iterator[str]:
    database = f"r_{uuid.uuid4().hex[:12]}"
    client = clickhouse_connect.get_client(dsn=clickhouse_dsn)
    try:
        client.command(f"CREATE DATABASE `{database}`")
        client.command(contrib_ddl("v0.150", database))
        yield database
    finally:
        client.command(f"DROP DATABASE IF EXISTS `{database}`")
        client.close()


def test_no_index_is_added_to_a_foreign_table_unless_asked(
    clickhouse_dsn: str, contrib_database: str
) -> None:
    config = ClickHouseConfig(database=contrib_database, create_schema=False)
    with ClickHouseExporter(config, clickhouse_dsn) as store:
        store.push(batch("t1", range(1, 3), run="r1"))
        with pytest.raises(StoreError, match="no runs index"):
            store.runs(RunsQuery())
        with pytest.raises(StoreError, match="no runs index"):
            store.task("t1", None)


def test_runs_index_on_a_contrib_table_indexes_old_and_new_rows(
    clickhouse_dsn: str, contrib_database: str
) -> None:
    plain = ClickHouseConfig(database=contrib_database, create_schema=False)
    with ClickHouseExporter(plain, clickhouse_dsn) as store:
        store.push(batch("old", range(1, 4), run="r1", end=("success", 0)))
    indexed = ClickHouseConfig(database=contrib_database, create_schema=False, runs_index=True)
    with ClickHouseExporter(indexed, clickhouse_dsn) as store:
        old = store.task("old", "acme")
        assert old is not None
        assert (old.line_count, old.result, old.exit_code) == (3, "success", 0)
        store.push(batch("new", range(1, 3), run="r1", errors=(2,)))
        store.push(batch("new", range(3, 4), run="r1", tenant="evil"))
        new = store.task("new", None)
        assert new is not None
        assert (new.tenant, new.line_count, new.first_error_seq) == ("acme", 2, 2)
        assert [r.run_id for r in store.runs(RunsQuery(tenant="acme")).runs] == ["r1"]
    # Started again: the index exists, nothing is indexed twice.
    with ClickHouseExporter(indexed, clickhouse_dsn) as store:
        again = store.task("old", None)
        assert again is not None
        assert again.line_count == 3
