"""Which ClickHouse errors are retried: by code and by the OS errno inside the message."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector_service.errors import ConfigError
from tasklogs_clickhouse import ClickHouseConfig
from tasklogs_clickhouse._errors import error_code, is_retryable

ENVIRONMENT = [
    "Code: 243. DB::Exception: Cannot reserve 1.00 MiB, not enough space. (NOT_ENOUGH_SPACE)",
    "Code: 1001. DB::Exception: std::__1::filesystem::filesystem_error: filesystem error: in "
    'create_directories: Permission denied ["/d/tmp_insert_1"]. (STD_EXCEPTION)',
    "Code: 75. DB::Exception: Cannot write to file /d/x.bin, errno: 30, strerror: "
    "Read-only file system. (CANNOT_WRITE_TO_FILE_DESCRIPTOR)",
    "Code: 252. DB::Exception: Too many parts (300). (TOO_MANY_PARTS)",
    "Code: 241. DB::Exception: Memory limit (total) exceeded. (MEMORY_LIMIT_EXCEEDED)",
    "Code: 242. DB::Exception: Table is in readonly mode. (TABLE_IS_READ_ONLY)",
    "Code: 76. DB::Exception: Cannot open file /d/x, errno: 24. (CANNOT_OPEN_FILE)",
    "Code: 999. DB::Exception: Keeper session expired. (KEEPER_EXCEPTION)",
    "Code: 3. DB::Exception: Unexpected end of file. (UNEXPECTED_END_OF_FILE)",
    "a message without any code",
]
BATCH = [
    "Code: 53. DB::Exception: Type mismatch in IN or VALUES section. (TYPE_MISMATCH)",
    "Code: 16. DB::Exception: No such column Foo in table default.otel_logs. "
    "(NO_SUCH_COLUMN_IN_TABLE)",
    "Code: 60. DB::Exception: Table default.otel_logs does not exist. (UNKNOWN_TABLE)",
    "Code: 27. DB::Exception: Cannot parse input. (CANNOT_PARSE_INPUT_ASSERTION_FAILED)",
]


@pytest.mark.parametrize("text", ENVIRONMENT)
def test_environment_errors_are_retried(text: str) -> None:
    assert is_retryable(text)


@pytest.mark.parametrize("text", BATCH)
def test_errors_about_the_batch_or_schema_are_permanent(text: str) -> None:
    assert not is_retryable(text)


def test_an_errno_makes_any_code_retryable() -> None:
    assert is_retryable("Code: 6. DB::Exception: Cannot read from file, errno: 5. (CANNOT_PARSE)")
    assert error_code("Code: 243. x") == 243


def test_a_relative_chdb_dsn_is_a_directory_under_the_data_dir(tmp_path: Path) -> None:
    def dsn(value: str) -> str:
        return ClickHouseConfig(dsn=value).resolved_dsn(tmp_path)

    assert dsn("chdb://data/x") == f"chdb://{tmp_path / 'data' / 'x'}"
    assert dsn("chdb:x") == f"chdb://{tmp_path / 'x'}"
    assert dsn("chdb:///srv/chdb") == "chdb:///srv/chdb"
    assert dsn("http://h:8123") == "http://h:8123"
    with pytest.raises(ConfigError, match="takes no options"):
        dsn("chdb://data/x?database=y")
