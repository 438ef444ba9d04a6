"""User regexes: RE2 with bounds, refused patterns as PatternError (400 in the API)."""

from __future__ import annotations

import threading
import time

import pytest

from collector_service.component.patterns import MAX_PATTERN_CHARS, compile_pattern
from collector_service.component.store import HistoryQuery
from collector_service.errors import PatternError, StoreError


def test_backtracking_pattern_is_linear() -> None:
    started = time.monotonic()
    assert not compile_pattern("exclude", "(a+)+$").search("a" * 28 + "b")
    assert compile_pattern("exclude", "(a+)+b$").search("a" * 1_000_000 + "b")
    assert time.monotonic() - started < 5  # Python's re: minutes for the first alone


def test_matching_releases_the_gil() -> None:
    pattern = compile_pattern("include", "[ab]*a[ab]{20}c")
    text = "ab" * 5_000_000
    ticks = 0
    done = threading.Event()

    def spin() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            time.sleep(0.001)

    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        for _ in range(5):
            pattern.search(text)
    finally:
        done.set()
        spinner.join()
    assert ticks > 0


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(a)\1", "invalid escape sequence"),
        ("(?<=a)b", "invalid perl operator"),
        ("a{1001}", "invalid repetition size"),
        ("x" * (MAX_PATTERN_CHARS + 1), "longer than"),
        ("a\x00b", "NUL"),
        ("(", "missing )"),
    ],
)
def test_refused_patterns_name_the_parameter_and_the_reason(pattern: str, reason: str) -> None:
    with pytest.raises(PatternError, match=r"^include: ") as refused:
        compile_pattern("include", pattern)
    assert reason in str(refused.value)
    assert isinstance(refused.value, StoreError)


def test_history_query_checks_its_patterns() -> None:
    HistoryQuery(task_run_id="t", include="ok.*", exclude="^x$")
    with pytest.raises(PatternError, match="exclude"):
        HistoryQuery(task_run_id="t", exclude="(?=x)")
