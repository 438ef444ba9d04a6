"""Which ClickHouse errors a retry can fix: by error code and by the OS errno inside.

The rule (issue 16): an error is *permanent* only when the batch itself can never be
written (bad data, a schema that does not fit it). Everything about the environment
(disk full, a read-only or unwritable directory, too many parts, memory, timeouts, the
network, a server restarting, a replica not ready) is *retryable*: the batch stays in
the durable queue, the service says it is not ready, and receivers refuse upstream until
the store takes writes again. An error code we do not know counts as retryable, and an
error that carries an OS errno (``errno: 28``, ``No space left on device``) is always
retryable, whatever its code: ClickHouse wraps filesystem errors in codes such as
``CANNOT_WRITE_TO_FILE_DESCRIPTOR`` (75), ``CANNOT_OPEN_FILE`` (76) or
``STD_EXCEPTION`` (1001).

Codes from ClickHouse's ``src/Common/ErrorCodes.cpp``.
"""

from __future__ import annotations

import re

__all__ = ["PERMANENT_CODES", "error_code", "has_errno", "is_retryable", "reason"]

#: Errors about the batch or the schema: retrying the same batch cannot succeed.
PERMANENT_CODES = frozenset(
    {
        6,  # CANNOT_PARSE_TEXT
        7,  # INCORRECT_NUMBER_OF_COLUMNS
        8,  # THERE_IS_NO_COLUMN
        9,  # SIZES_OF_COLUMNS_DOESNT_MATCH
        10,  # NOT_FOUND_COLUMN_IN_BLOCK
        15,  # DUPLICATE_COLUMN
        16,  # NO_SUCH_COLUMN_IN_TABLE
        20,  # NUMBER_OF_COLUMNS_DOESNT_MATCH
        26,  # CANNOT_PARSE_QUOTED_STRING
        27,  # CANNOT_PARSE_INPUT_ASSERTION_FAILED
        36,  # BAD_ARGUMENTS
        38,  # CANNOT_PARSE_DATE
        41,  # CANNOT_PARSE_DATETIME
        43,  # ILLEGAL_TYPE_OF_ARGUMENT
        44,  # ILLEGAL_COLUMN
        47,  # UNKNOWN_IDENTIFIER
        53,  # TYPE_MISMATCH
        60,  # UNKNOWN_TABLE
        62,  # SYNTAX_ERROR
        69,  # ARGUMENT_OUT_OF_BOUND
        70,  # CANNOT_CONVERT_TYPE
        72,  # CANNOT_PARSE_NUMBER
        81,  # UNKNOWN_DATABASE
        117,  # INCORRECT_DATA
        131,  # TOO_LARGE_STRING_SIZE
        321,  # VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
        349,  # CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
        352,  # AMBIGUOUS_COLUMN_NAME
        386,  # NO_COMMON_TYPE
        489,  # ILLEGAL_TYPE_OF_COLUMN_FOR_FILTER (a bad Bool/UInt8 column)
    }
)

_CODE = re.compile(r"Code:\s*(\d+)")
#: An OS error inside the message: the filesystem or the network, never the batch.
_ERRNO = re.compile(
    r"errno[:=]\s*\d+|No space left on device|Read-only file system|Permission denied|"
    r"Disk quota exceeded|Too many open files|Input/output error|Cannot allocate memory|"
    r"NOT_ENOUGH_SPACE|CANNOT_WRITE|CANNOT_OPEN_FILE|CANNOT_FSYNC|CANNOT_CREATE_DIRECTORY",
    re.IGNORECASE,
)


def error_code(text: str) -> int | None:
    """The ClickHouse error code in an error message (``Code: 243.``), if any."""
    match = _CODE.search(text)
    return int(match.group(1)) if match else None


def has_errno(text: str) -> bool:
    """Whether ``text`` carries an OS error (the filesystem, the network, memory)."""
    return _ERRNO.search(text) is not None


def is_retryable(text: str) -> bool:
    """Whether the error described by ``text`` may succeed when the batch is retried."""
    if has_errno(text):
        return True
    code = error_code(text)
    return code is None or code not in PERMANENT_CODES


def reason(text: str) -> str:
    """A one-line reason for ``/readyz`` and logs: the first line, shortened."""
    first = text.strip().splitlines()[0] if text.strip() else "unknown error"
    return first if len(first) <= 300 else first[:297] + "..."
