"""User regular expressions (``include``/``exclude``, search): RE2, never Python ``re``.

Python's ``re`` backtracks: ``(a+)+$`` against 28 ``a`` and a ``b`` runs for minutes and
holds the GIL (and so the event loop that also runs the receivers). RE2 (the
``google-re2`` bindings) matches in time linear in the input, refuses what it cannot do
in linear time (backreferences, lookaround), releases the GIL while it matches, and is the
engine of ClickHouse's ``match()``, so the API's re-filter and the ClickHouse store agree.

Every pattern that reaches a store or a filter passes :func:`compile_pattern` first:

- at most :data:`MAX_PATTERN_CHARS` characters;
- RE2 must accept it with a compiled program of at most :data:`MAX_PROGRAM_MEM` bytes
  (``(a{1000}){1000}`` is short and refused as too large);
- anything else raises :class:`~collector_service.errors.PatternError`, whose message says
  why (the HTTP API answers 400 with it).

PostgreSQL's ``~`` is POSIX (ARE); the subset both engines read the same way is
``. * + ? | () [] [^] ^ $ {m,n}`` and the escapes ``\\d \\s \\w \\.``; see README.
"""

from __future__ import annotations

import functools

import re2

from collector_service.errors import PatternError

__all__ = ["MAX_PATTERN_CHARS", "MAX_PROGRAM_MEM", "UserPattern", "compile_pattern"]

#: Longest pattern accepted, in characters.
MAX_PATTERN_CHARS = 1024
#: RE2 ``max_mem``: bounds the compiled program and the DFA cache of one pattern.
MAX_PROGRAM_MEM = 8 << 20


def _options() -> re2.Options:
    options = re2.Options()
    options.max_mem = MAX_PROGRAM_MEM
    options.log_errors = False
    options.never_capture = True  # a yes/no match needs no groups: less memory
    return options


class UserPattern:
    """One compiled user pattern; :meth:`search` is safe on any input."""

    __slots__ = ("_regex", "pattern")

    def __init__(self, pattern: str, regex: re2._Regexp) -> None:
        self.pattern = pattern
        self._regex = regex

    def search(self, text: str) -> bool:
        """Whether the pattern matches anywhere in ``text`` (linear time, GIL released)."""
        return self._regex.search(text) is not None

    def __repr__(self) -> str:
        return f"UserPattern({self.pattern!r})"


@functools.lru_cache(maxsize=256)
def _compile(pattern: str) -> UserPattern:
    try:
        return UserPattern(pattern, re2.compile(pattern, _options()))
    except re2.error as exc:
        reason = exc.args[0] if exc.args else ""
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise PatternError(str(reason) or "RE2 refuses this pattern") from None


def compile_pattern(name: str, pattern: str) -> UserPattern:
    """``pattern`` compiled with RE2, or :class:`PatternError` naming ``name`` and why."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise PatternError(
            f"{name}: regular expression is longer than {MAX_PATTERN_CHARS} characters"
        )
    if "\x00" in pattern:
        raise PatternError(f"{name}: regular expression contains a NUL character")
    try:
        return _compile(pattern)
    except PatternError as exc:
        raise PatternError(f"{name}: invalid regular expression (RE2): {exc}") from None
