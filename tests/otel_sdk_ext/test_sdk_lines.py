"""LineSplitter: terminal line semantics, in isolation."""

from __future__ import annotations

from typing import Any

from otel_sdk_ext._lines import (
    ATTR_LINE_ORIGINAL_LENGTH,
    ATTR_LINE_PART,
    ATTR_LINE_PARTIAL,
    MAX_PARTIAL_AGE_S,
    SPLIT_MARKER,
    TRUNCATED_MARKER,
    LineSplitter,
)

Got = list[tuple[str, dict[str, Any] | None]]


def splitter(**kwargs: Any) -> tuple[LineSplitter, Got]:
    got: Got = []
    return LineSplitter(lambda line, attrs: got.append((line, attrs)), **kwargs), got


def test_newlines_crlf_and_blank_lines() -> None:
    s, got = splitter()
    s.feed("ab")
    s.feed("c\r\nde\n\nf")
    s.feed("g\r")
    s.feed("\n")
    assert [line for line, _ in got] == ["abc", "de", "", "fg"]
    assert all(attrs is None for _, attrs in got)


def test_carriage_returns_collapse_to_the_visible_state() -> None:
    s, got = splitter()
    for i in range(1000):
        s.feed(f"\r{i}%")
    s.feed("\rdone\n")
    s.feed("a\rb\rc\n")
    s.feed("x\r")
    s.feed("y\n")
    assert got == [("done", None), ("c", None), ("y", None)]


def test_idle_partial_line_is_sent_once_and_the_rest_follows() -> None:
    s, got = splitter()
    s.feed("prompt: ")
    s.flush_if_idle(s.last_feed + 0.1, idle_s=0.5)
    assert got == []
    s.flush_if_idle(s.last_feed + 0.5, idle_s=0.5)
    assert got == [("prompt: ", {ATTR_LINE_PARTIAL: True})]
    s.flush_if_idle(s.last_feed + 5, idle_s=0.5)  # nothing new: nothing sent
    s.feed("answer\n")
    s.feed("\n")
    assert got[1:] == [("answer", None), ("", None)]


def test_a_live_progress_bar_is_still_sent_now_and_then() -> None:
    s, got = splitter()
    s.feed("\r10%")
    s.feed("\r20%")
    s.last_feed += MAX_PARTIAL_AGE_S  # still changing, never idle
    s.flush_if_idle(s.last_feed, idle_s=0.5)
    assert got == [("20%", {ATTR_LINE_PARTIAL: True})]
    s.feed("\r100%\n")
    assert got[-1] == ("100%", None)


def test_long_lines_are_split_with_markers_and_the_original_length() -> None:
    s, got = splitter(max_line_chars=100)
    s.feed("a" * 150)
    s.feed("b" * 100 + "\n")
    assert got == [
        ("a" * 100 + SPLIT_MARKER, {ATTR_LINE_PART: 1}),
        ("a" * 50 + "b" * 50 + SPLIT_MARKER, {ATTR_LINE_PART: 2}),
        ("b" * 50, {ATTR_LINE_PART: 3, ATTR_LINE_ORIGINAL_LENGTH: 250}),
    ]


def test_long_lines_are_truncated_in_bounded_memory() -> None:
    s, got = splitter(max_line_chars=100, long_lines="truncate")
    for _ in range(1000):
        s.feed("z" * 1000)
    assert s._len == 100  # nothing more is kept
    s.feed("\nshort\n")
    assert got == [
        ("z" * 100 + TRUNCATED_MARKER, {ATTR_LINE_ORIGINAL_LENGTH: 1_000_000}),
        ("short", None),
    ]


def test_flush_partial_at_exit_marks_the_line() -> None:
    s, got = splitter()
    s.feed("no newline")
    s.flush_partial()
    s.flush_partial()
    assert got == [("no newline", {ATTR_LINE_PARTIAL: True})]
