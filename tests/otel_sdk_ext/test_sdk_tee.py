"""TeeTextStream in isolation: the lock-free pieces of print() give the same lines as
the splitter fed the same writes, and the same terminal output."""

from __future__ import annotations

import io
import random
import threading
from typing import Any

from otel_sdk_ext._lines import ATTR_LINE_PARTIAL, LineSplitter
from otel_sdk_ext._tee import TeeTextStream
from otel_sdk_ext._threadline import MAX_PIECES

Got = list[tuple[str, dict[str, Any] | None]]


def tee(**kwargs: Any) -> tuple[TeeTextStream, io.StringIO, Got]:
    got: Got = []
    out = io.StringIO()
    return TeeTextStream(out, lambda line, attrs: got.append((line, attrs)), **kwargs), out, got


def splitter_lines(writes: list[str], **kwargs: Any) -> Got:
    got: Got = []
    s = LineSplitter(lambda line, attrs: got.append((line, attrs)), **kwargs)
    for w in writes:
        s.feed(w)
    s.flush_partial()
    return got


def test_print_pieces_make_whole_lines() -> None:
    t, out, got = tee()
    for i in range(3):
        print("item", i, "of", 3, file=t)
    print(file=t)
    print("a", "b", sep="-", end="", file=t)
    print("c", file=t)
    t.stop_capture()
    assert out.getvalue() == "item 0 of 3\nitem 1 of 3\nitem 2 of 3\n\na-bc\n"
    assert got == [(f"item {i} of 3", None) for i in range(3)] + [("", None), ("a-bc", None)]


def test_same_lines_as_the_splitter_whatever_the_writes() -> None:
    rng = random.Random(17)  # noqa: S311 - reproducible writes
    alphabet = ["ab", "c", " ", "\n", "\r", "\r\n", "x" * 30, "", "é"]
    for max_line_chars in (64, 40, 7):
        for _ in range(200):
            writes = [rng.choice(alphabet) for _ in range(rng.randrange(1, 60))]
            t, out, got = tee(max_line_chars=max_line_chars)
            for w in writes:
                t.write(w)
            t.stop_capture()
            assert out.getvalue() == "".join(writes)
            assert got == splitter_lines(writes, max_line_chars=max_line_chars), writes


def test_more_pieces_than_wait_without_the_lock() -> None:
    t, _out, got = tee()
    print("warm up", file=t)
    for _ in range(3 * MAX_PIECES):
        t.write("a")
    t.write("\n")
    print("b", "c", file=t)
    t.stop_capture()
    assert got == [("warm up", None), ("a" * 3 * MAX_PIECES, None), ("b c", None)]


def test_pieces_then_line_control_or_bytes() -> None:
    t, out, got = tee()
    print("warm up", file=t)
    t.write("50%")
    t.write("\r100%")
    t.write("\n")
    t.write("text then ")
    t.buffer.write(b"bytes\n")
    print("after", "bytes", file=t)
    t.stop_capture()
    assert [line for line, _ in got] == ["warm up", "100%", "text then bytes", "after bytes"]
    assert out.getvalue() == "warm up\n50%\r100%\ntext then bytes\nafter bytes\n"


def test_idle_pieces_are_sent_as_a_partial_line() -> None:
    t, _out, got = tee()
    print("warm up", file=t)
    print("prompt:", end=" ", file=t)
    t.flush_if_idle(100.0, 0.5)  # first look: the line is pending
    t.flush_if_idle(100.4, 0.5)
    assert got == [("warm up", None)]
    t.flush_if_idle(100.5, 0.5)  # unchanged for idle_s
    assert got[1:] == [("prompt: ", {ATTR_LINE_PARTIAL: True})]
    t.flush_if_idle(101.0, 0.5)  # nothing new: nothing sent
    print("answer", file=t)
    print(file=t)
    t.stop_capture()
    assert got[2:] == [("answer", None), ("", None)]


def test_a_changing_line_is_not_idle_but_is_still_sent_now_and_then() -> None:
    t, _out, got = tee()
    print("warm up", file=t)
    now = 100.0
    for _ in range(30):  # a dot every 0.25 s: never idle for 0.5 s
        t.write(".")
        t.flush_if_idle(now, 0.5)
        now += 0.25
    assert got[1:] == [("." * 21, {ATTR_LINE_PARTIAL: True})]  # after MAX_PARTIAL_AGE_S
    t.write("\n")
    t.stop_capture()
    assert got[2:] == [("." * 9, None)]


def test_flush_partial_sends_pending_pieces_and_capture_can_stop() -> None:
    t, out, got = tee()
    print("warm up", file=t)
    t.write("half")
    t.flush_partial()
    assert got[1:] == [("half", {ATTR_LINE_PARTIAL: True})]
    t.write(" rest")
    t.stop_capture()
    print("not captured", file=t)
    assert got[2:] == [(" rest", {ATTR_LINE_PARTIAL: True})]
    assert out.getvalue() == "warm up\nhalf rest" + "not captured\n"


def test_threads_printing_pieces_keep_their_lines() -> None:
    t, out, got = tee()
    n_threads, n_lines = 4, 300
    barrier = threading.Barrier(n_threads)

    def work(k: int) -> None:
        barrier.wait()
        for i in range(n_lines):
            print(f"thread-{k}", "line", i, "of", n_lines, file=t)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    t.stop_capture()
    lines = [line for line, _ in got]
    assert len(lines) == n_threads * n_lines
    for k in range(n_threads):
        assert [b for b in lines if b.startswith(f"thread-{k} ")] == [
            f"thread-{k} line {i} of {n_lines}" for i in range(n_lines)
        ]
    assert out.getvalue().count("\n") == n_threads * n_lines


def test_a_sink_that_prints_does_not_deadlock() -> None:
    got: list[str] = []
    out = io.StringIO()

    def sink(line: str, attrs: dict[str, Any] | None) -> None:
        got.append(line)
        if line == "outer":
            print("from", "the sink", file=t)

    t = TeeTextStream(out, sink)
    print("warm up", file=t)
    print("outer", file=t)
    print("after", file=t)
    t.stop_capture()
    assert got == ["warm up", "outer", "from the sink", "after"]
    assert out.getvalue() == "warm up\nouter\nfrom the sink\nafter\n"


def test_a_new_line_of_pieces_is_not_taken_for_the_old_one() -> None:
    t, _out, got = tee()
    print("warm up", file=t)
    t.write("a")
    t.flush_if_idle(100.0, 0.5)
    t.write("\r\n")  # the line ends without end_plain_line (the splitter's way)
    t.write("b")  # as many pieces as at the last look, but new
    t.flush_if_idle(100.5, 0.5)
    assert got[1:] == [("a", None)]
    t.flush_if_idle(101.0, 0.5)
    assert got[2:] == [("b", {ATTR_LINE_PARTIAL: True})]
