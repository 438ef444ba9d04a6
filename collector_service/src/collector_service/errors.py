"""The one exception tree of tasklogs.

Every error the project raises on purpose derives from :class:`TasklogsError`, so a caller
can catch everything tasklogs-specific in one place::

    TasklogsError
    ├── ConfigError            bad configuration, found before any I/O
    ├── DecodeError            an OTLP payload that cannot be parsed
    ├── RequestTooLargeError   a request body over the configured limit (wire or decompressed)
    ├── BackpressureError      a bounded queue is full; the sender should retry later
    │   └── UnavailableError   the durable queue (Redis) cannot be reached right now
    ├── AuthError              a missing or unknown bearer token
    ├── ExportError            an exporter could not write a batch
    │   ├── RetryableExportError   transient (network, server busy): the wrapper retries
    │   └── PermanentExportError   will never succeed (schema, bad data): dead-lettered
    ├── StoreError             a history query failed, or the store cannot be reached
    │   ├── StoreBusyError     the store is owned by another process (embedded chDB)
    │   ├── QueryLimitError    every reader of the store is busy: retry shortly (429)
    │   └── QueryError         the query itself is invalid: asking again cannot help (400)
    │       └── PatternError   a user regular expression RE2 refuses or over the size limit
    └── ApiError               the read API (as the CLI calls it) answered with an error
        ├── ApiUnreachableError    no tasklogs API answers at the URL
        ├── ApiAuthError           the API refused the token (or wants one)
        └── ApiNotFoundError       no such task run or pipeline run (for this tenant)
"""

from __future__ import annotations

__all__ = [
    "ApiAuthError",
    "ApiError",
    "ApiNotFoundError",
    "ApiUnreachableError",
    "AuthError",
    "BackpressureError",
    "ConfigError",
    "DecodeError",
    "ExportError",
    "PatternError",
    "PermanentExportError",
    "QueryError",
    "QueryLimitError",
    "RequestTooLargeError",
    "RetryableExportError",
    "StoreBusyError",
    "StoreError",
    "TasklogsError",
    "UnavailableError",
]


class TasklogsError(Exception):
    """Base class of every error tasklogs raises on purpose."""


class ConfigError(TasklogsError):
    """The configuration is invalid; the message names the offending key."""


class DecodeError(TasklogsError):
    """An OTLP request body could not be decoded."""


class RequestTooLargeError(TasklogsError):
    """A request body is larger than the receiver's limit, compressed or decompressed."""


class BackpressureError(TasklogsError):
    """A bounded queue is full. ``retry_after`` is a hint in seconds for the sender."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UnavailableError(BackpressureError):
    """The durable hand-off cannot take the request now (e.g. Redis is down): retry later.

    Receivers answer gRPC ``UNAVAILABLE`` / HTTP 503 with the ``retry_after`` hint.
    """


class AuthError(TasklogsError):
    """A request without a valid bearer token."""


class ExportError(TasklogsError):
    """An exporter failed to write a batch."""

    retryable: bool = False


class RetryableExportError(ExportError):
    """A transient export failure; the shared wrapper retries it with backoff."""

    retryable = True


class PermanentExportError(ExportError):
    """An export failure that retrying cannot fix; the batch is counted and dead-lettered."""


class StoreError(TasklogsError):
    """A history query failed or the store is unreachable."""


class StoreBusyError(StoreError):
    """The store is owned by another process (an embedded chDB directory is single-owner)."""


class QueryError(StoreError):
    """The query itself is invalid (e.g. a regex the store refuses): asking again cannot
    help; the API answers 400."""


class PatternError(QueryError):
    """A user regular expression that RE2 refuses or that is over the size limit.

    The caller's fault, never the store's: the HTTP API answers 400 with the message.
    """


class ApiError(TasklogsError):
    """The read API answered a CLI request with an error; ``exit_code`` is what the
    command exits with (sysexits-style, documented in the README)."""

    exit_code: int = 1


class ApiUnreachableError(ApiError):
    """No tasklogs API answers at the configured URL (refused, timed out, bad host)."""

    exit_code = 69  # EX_UNAVAILABLE


class ApiAuthError(ApiError):
    """The API refused the bearer token (HTTP 401/403), or wants one and none was given."""

    exit_code = 77  # EX_NOPERM


class ApiNotFoundError(ApiError):
    """The task run or pipeline run does not exist, or belongs to another tenant (404)."""

    exit_code = 66  # EX_NOINPUT


class QueryLimitError(StoreError):
    """Every reader of the store stayed busy for its wait bound: retry shortly (the API
    answers 429 with ``Retry-After``)."""
