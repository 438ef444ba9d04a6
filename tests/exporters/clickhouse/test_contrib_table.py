"""``create_schema: false`` on a table the contrib exporter created, of every generation
(before and after v0.151), from its DDL verbatim: writes, the whole history contract and
every field and value kind work without tasklogs' own columns (map lookups instead)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import clickhouse_connect
import pytest

from collector_service.component.decode import decode_request
from collector_service.component.store import HistoryQuery
from collector_service.errors import StoreError
from tasklogs_clickhouse import ClickHouseConfig, ClickHouseExporter
from tests.stores._world import world_batches
from tests.stores.test_contract import QUERIES, check
from tests.stores.test_fidelity import NAMES, TASK, expected_record, fidelity_request, record_fields

_DDL_DIR = Path(__file__).parent / "contrib_ddl"
#: The contrib exporter's logs DDL of each generation, as it creates the table.
GENERATIONS = {
    "v0.151": "logs_table_v0.151.sql",
    "v0.150": "logs_table_v0.150.sql",
    "no_event_name": "logs_table_no_event_name.sql",
}


def contrib_ddl(generation: str, database: str, table: str = "otel_logs") -> str:
    text = (_DDL_DIR / GENERATIONS[generation]).read_text("utf-8")
    return text.replace("{database}", database).replace("{table}", table)


@pytest.fixture(scope="module", params=sorted(GENERATIONS))
def contrib_store(
    clickhouse_dsn: str, request: pytest.FixtureRequest
) -> Iterator[ClickHouseExporter]:
    """Our exporter (create_schema: false) on a table created by the contrib DDL verbatim."""
    database = f"k_{uuid.uuid4().hex[:12]}"
    client = clickhouse_connect.get_client(dsn=clickhouse_dsn)
    try:
        client.command(f"CREATE DATABASE `{database}`")
        client.command(contrib_ddl(str(request.param), database))
        config = ClickHouseConfig(database=database, create_schema=False)
        with ClickHouseExporter(config, clickhouse_dsn) as store:
            for batch in world_batches():
                store.push(batch)
            store.push(decode_request(fidelity_request()))
            yield store
    finally:
        client.command(f"DROP DATABASE IF EXISTS `{database}`")
        client.close()


@pytest.mark.parametrize("name", QUERIES)
def test_history_contract_on_a_contrib_table(contrib_store: ClickHouseExporter, name: str) -> None:
    check(contrib_store, QUERIES[name])


def test_retention_report_on_a_contrib_table(contrib_store: ClickHouseExporter) -> None:
    report = contrib_store.retention_report()
    assert sum(p.rows for p in report.partitions) == 100 + len(NAMES)


def test_every_value_round_trips_through_a_contrib_table(contrib_store: ClickHouseExporter) -> None:
    page = contrib_store.query(HistoryQuery(task_run_id=TASK, limit=100))
    present = contrib_store._present
    expected = []
    for i, name in enumerate(NAMES):
        e = expected_record(i, name)
        # What a contrib table has no column for reads back as the default.
        e["observed_timestamp_ns"] = e["dropped_attributes_count"] = 0
        if "EventName" not in present:
            e["event_name"] = ""
        expected.append(e)
    assert [record_fields(r) for r in page.records] == expected
    # The table's own materialized columns (v0.151+) are filled by the engine.
    if "__otel_materialized_k8s.pod.name" in present:
        client = contrib_store._require_client()
        ((n,),) = client.query(
            f"SELECT count() FROM {contrib_store.schema.table} "
            "WHERE `__otel_materialized_k8s.pod.name` = ''"
        ).result_rows
        assert n == 100 + len(NAMES)


def test_create_schema_false_never_creates_anything(clickhouse_dsn: str, database: str) -> None:
    config = ClickHouseConfig(database=database, create_schema=False)
    with pytest.raises(StoreError, match=f"Database {database} does not exist"):
        ClickHouseExporter(config, clickhouse_dsn).start()
