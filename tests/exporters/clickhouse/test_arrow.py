"""LogBatch to Arrow: every column, shared and per-record attribute maps, exactly."""

from __future__ import annotations

from collector_service.model import COLUMN_NAMES
from exporters.clickhouse._arrow import to_arrow
from tests.exporters.clickhouse.test_exporter import batch_for


def test_every_column_converts_exactly() -> None:
    batch = batch_for("tr", 5)
    a, b = {"service.name": "a", "x": "1"}, {"service.name": "b"}
    # Runs of shared resource maps, a map that comes back after another, an empty one.
    batch.resource_attributes[:] = [a, a, b, a, {}]
    batch.scope_attributes[:] = [{}] * 5
    batch.log_attributes[2] = {}
    batch.trace_id[1] = "0102030405060708090a0b0c0d0e0f10"
    table = to_arrow(batch)
    assert table.column_names == list(COLUMN_NAMES)
    rows = table.to_pylist()
    for row, expected in zip(rows, batch.rows(), strict=True):
        for name in COLUMN_NAMES:
            got = row[name]
            if name == "Timestamp":
                got = got.value
            elif name.endswith("Attributes"):
                got = dict(got)
            assert got == expected[name], name


def test_mostly_distinct_maps_convert_exactly() -> None:
    batch = batch_for("tr", 4)
    batch.resource_attributes[:] = [{"k": str(i)} for i in range(4)]
    rows = to_arrow(batch, ["ResourceAttributes", "Body"]).to_pylist()
    assert [dict(r["ResourceAttributes"]) for r in rows] == batch.resource_attributes
    assert list(rows[0]) == ["ResourceAttributes", "Body"]
