"""The embedded engine's memory bounds (``exporters.clickhouse.engine``) reach chDB."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from tasklogs_clickhouse import ClickHouseConfig
from tasklogs_clickhouse._engine import EngineMemory
from tests.support import REPO

MIB = 1024 * 1024


def test_defaults_bound_every_cache_and_the_total() -> None:
    settings = ClickHouseConfig().engine.server_settings()
    assert settings["mark_cache_size"] == 256 * MIB
    assert settings["primary_index_cache_size"] == 128 * MIB
    assert settings["index_mark_cache_size"] == 64 * MIB
    assert settings["text_index_postings_cache_size"] == 64 * MIB
    assert settings["query_condition_cache_size"] == 32 * MIB
    assert settings["max_server_memory_usage"] == 4096 * MIB
    assert settings["merges_mutations_memory_usage_soft_limit"] == 1024 * MIB


def test_zero_leaves_the_total_and_merges_to_the_engine() -> None:
    settings = EngineMemory(max_memory_mib=0, merge_memory_mib=0).server_settings()
    assert "max_server_memory_usage" not in settings
    assert "merges_mutations_memory_usage_soft_limit" not in settings


def test_unknown_or_negative_bounds_are_config_errors() -> None:
    with pytest.raises(ValidationError):
        ClickHouseConfig.model_validate({"engine": {"mark_cache": 1}})
    with pytest.raises(ValidationError):
        ClickHouseConfig.model_validate({"engine": {"mark_cache_mib": -1}})


_CHECK = """
import sys
from tasklogs_clickhouse import ClickHouseConfig, ClickHouseExporter
config = ClickHouseConfig.model_validate(
    {"engine": {"mark_cache_mib": 7, "max_memory_mib": 1500, "text_index_cache_mib": 3}}
)
store = ClickHouseExporter(config, "chdb://" + sys.argv[1])
store.start()
rows = store._require_client().query(
    "SELECT name, value FROM system.server_settings WHERE name IN "
    "('mark_cache_size', 'max_server_memory_usage', 'text_index_tokens_cache_size')"
).result_rows
store.shutdown()
print(sorted((str(n), int(v)) for n, v in rows))
"""


def test_the_engine_starts_with_the_configured_bounds(tmp_path: Path) -> None:
    """In a process of its own: chDB takes server settings once, when its engine starts."""
    out = subprocess.run(
        [sys.executable, "-c", _CHECK, str(tmp_path / "chdb")],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        timeout=120,
    ).stdout
    assert out.strip().splitlines()[-1] == str(
        [
            ("mark_cache_size", 7 * MIB),
            ("max_server_memory_usage", 1500 * MIB),
            ("text_index_tokens_cache_size", 3 * MIB),
        ]
    )


def test_an_insert_past_the_total_is_retried() -> None:
    """``max_memory_mib`` refuses an insert with MEMORY_LIMIT_EXCEEDED: retryable."""
    from tasklogs_clickhouse import _errors

    assert _errors.is_retryable(
        "Code: 241. DB::Exception: (total) memory limit exceeded: would use 4.00 GiB "
        "(attempt to allocate chunk of 4.00 MiB), maximum: 4.00 GiB. (MEMORY_LIMIT_EXCEEDED)"
    )
