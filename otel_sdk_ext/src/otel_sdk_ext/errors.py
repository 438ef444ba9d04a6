"""The producer's exceptions. The producer raises its own errors, never the server's."""

from __future__ import annotations

__all__ = ["ConfigError", "TasklogsSdkError"]


class TasklogsSdkError(Exception):
    """Base of every error ``otel_sdk_ext`` raises on purpose."""


class ConfigError(TasklogsSdkError, ValueError):
    """A setting of the producer (an argument or an environment variable) is invalid."""
