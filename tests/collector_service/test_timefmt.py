"""Record text: nanosecond times exactly (where a float rounds), indented continuations."""

from __future__ import annotations

from collector_service.component.timefmt import rfc3339_ns, text_line


def test_times_are_exact_to_the_nanosecond() -> None:
    # A float of these nanoseconds rounds up into the next second.
    assert rfc3339_ns(1_796_191_843_999_999_999) == "2026-12-02T06:10:43.999999999Z"
    assert rfc3339_ns(1_796_191_843_000_000_001) == "2026-12-02T06:10:43.000000001Z"
    assert rfc3339_ns(0) == "1970-01-01T00:00:00.000000000Z"
    assert rfc3339_ns(-1) == "1969-12-31T23:59:59.999999999Z"
    assert rfc3339_ns(2**63 - 1) == "2262-04-11T23:47:16.854775807Z"


def test_a_multi_line_body_indents_its_continuation_lines() -> None:
    line = text_line(1_796_191_843_000_000_001, "WARN", "one\ntwo\r\nthree\rfour")
    head = "2026-12-02T06:10:43.000000001Z WARN  "
    pad = " " * len(head)
    assert line == f"{head}one\n{pad}two\n{pad}three\n{pad}four\n"
    assert text_line(0, "INFO", "plain") == "1970-01-01T00:00:00.000000000Z INFO  plain\n"
