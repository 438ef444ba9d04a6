"""``tasklogs logs``: stored history, then (with ``-f``) live lines, for a task or a run.

History comes first (``--tail``, ``--since``, ``--after``...), then the live stream
continues from the last stored line, so nothing is printed twice and nothing is missed
in between. A follow ends with the task (``end``), with the run (``--until-done``), or
with Ctrl-C, which prints the cursor to continue from.
"""

from __future__ import annotations

import queue
import signal
import time
from typing import Any, TextIO

from collector_service.cli._api import Api
from collector_service.cli.logs._format import Formatter, Painter, color_console
from collector_service.cli.logs._history import Target, forward, newest
from collector_service.cli.logs._lines import Line
from collector_service.cli.logs._live import Event, LiveReader
from collector_service.cli.logs._options import Options
from collector_service.cli.logs._printer import Printer
from collector_service.cli.logs._select import Selection
from collector_service.errors import ApiError, ApiNotFoundError

__all__ = ["show", "task_exit_code"]

_FINAL = frozenset({"succeeded", "failed", "cancelled"})
_POLL_S = 2.0
_HOLD = 100_000  # live lines held per running task with --failed (then: from the store)


def task_exit_code(result: str | None, exit_code: int | None) -> int:
    """0 for success; else the task's own exit code, or 1 when it has none (or 0)."""
    if result in {"success", "succeeded"}:
        return 0
    return exit_code if exit_code else 1


def show(opts: Options, api: Api, out: TextIO, err: TextIO) -> int:
    target = (
        Target("task", opts.task_run_id) if opts.task_run_id else Target("run", str(opts.run_id))
    )
    fmt = Formatter(
        out,
        opts.output,
        Painter(color_console(out, opts.color)),
        timestamps=opts.timestamps,
        prefix=opts.prefix,
        highlight=opts.highlight,
    )
    sel = Selection(opts)
    printer = Printer(fmt, sel, err, kind=target.kind, after=opts.after)
    if target.kind == "run" and (opts.failed or opts.prefix):
        _run_tasks(api, target, fmt, sel, required=opts.failed, follow=opts.follow)
    fmt.begin()
    if opts.follow:
        _interruptible()
    try:
        _stored(api, target, sel, printer, opts)
        if not opts.follow:
            return 0
        return _follow(api, target, sel, printer, opts)
    except (KeyboardInterrupt, _Terminated) as exc:
        cursor = printer.resume_cursor
        fmt.finish()
        if cursor:
            printer.notice(f"interrupted; continue exactly here with: --after {cursor}")
        else:
            printer.notice("interrupted before any line arrived")
        return 143 if isinstance(exc, _Terminated) else 130
    finally:
        fmt.finish()


class _Terminated(Exception):
    """SIGTERM during a follow: stop like Ctrl-C (flush, print the cursor)."""


def _on_term(signum: int, frame: object) -> None:
    raise _Terminated


def _interruptible() -> None:
    """Ctrl-C and SIGTERM end a follow cleanly, even where a shell started it with
    SIGINT ignored (a background job)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _on_term)


def _run_tasks(
    api: Api, target: Target, fmt: Formatter, sel: Selection, *, required: bool, follow: bool
) -> list[dict[str, Any]]:
    """The run's tasks from the runs index: prefix widths, and the failed ones."""
    try:
        tasks: list[dict[str, Any]] = api.get(target.base)["tasks"]
    except ApiNotFoundError:
        if required and not follow:
            raise
        return []  # a run that has not started yet: a follow waits for it
    except ApiError:
        if required:
            raise
        return []
    fmt.known_tasks([t.get("task_name") or t["task_run_id"] for t in tasks])
    sel.failed_ids.update(t["task_run_id"] for t in tasks if t.get("status") == "failed")
    return tasks


def _stored(api: Api, target: Target, sel: Selection, printer: Printer, opts: Options) -> None:
    params = sel.history_params()
    try:
        if opts.tail is not None:
            for line in newest(api, target, params, opts.tail):
                printer.offer(line, show=opts.tail > 0)
            return
        for line in forward(api, target, params, opts.after):
            printer.offer(line)
    except ApiNotFoundError:
        if not opts.follow:
            raise
        # Not there yet (or a server without run history): the stream waits for it.


def _start_id(target: Target, printer: Printer, after: str | None) -> str:
    """Where the live stream starts: after the last stored line received (its seq on a
    task stream, its store cursor otherwise), after ``--after``, or at the very start."""
    last: Line | None = printer.last
    if target.kind == "task":
        if last is not None:
            return str(last.seq) if last.seq else f"s/{last.cursor}"
        return f"s/{after}" if after else "0"
    if last is not None:
        return f"s/{last.cursor}"
    return f"s/{after}" if after else "s/0-0"


def _follow(api: Api, target: Target, sel: Selection, printer: Printer, opts: Options) -> int:
    run_status = _RunStatus(api, target) if target.kind == "run" and opts.until_done else None
    if run_status is not None:
        run_status.done()  # starts the settle time of a run that is over already
    events: queue.Queue[Event] = queue.Queue(maxsize=10_000)
    reader = LiveReader(
        api,
        f"{target.base}/logs/stream",
        sel.stream_params(),
        _start_id(target, printer, opts.after),
        events,
        stop_on_end=target.kind == "task",
    )
    reader.start()
    #: ``--failed``: the live lines of tasks still running, until they end.
    held: dict[str, list[Line]] = {}
    try:
        while True:
            try:
                ev = events.get(timeout=_POLL_S)
            except queue.Empty:
                printer.fmt.out.flush()
                if run_status is not None and run_status.done():
                    return run_status.exit_code()
                continue
            code = _handle(ev, api, target, printer, opts, held=held)
            if events.empty():
                printer.fmt.out.flush()
            if code is not None:
                return code
            if run_status is not None and ev.kind == "log":
                run_status.touch()
    finally:
        reader.stop()


def _handle(
    ev: Event,
    api: Api,
    target: Target,
    printer: Printer,
    opts: Options,
    *,
    held: dict[str, list[Line]],
) -> int | None:
    """One event; an exit code when the follow is over."""
    sel = printer.sel
    if ev.kind == "log":
        line = Line.from_record(ev.data)
        if opts.failed and line.task_run_id not in sel.failed_ids:
            _hold(held, line)  # shown only if its task fails
        else:
            printer.offer(line)
    elif ev.kind == "gap":
        printer.notice(f"gap: {ev.data.get('what', '?')}: {ev.data.get('reason', '?')}")
    elif ev.kind == "notice":
        printer.notice(str(ev.data["message"]))
    elif ev.kind == "fatal" and ev.error is not None:
        raise ev.error
    elif ev.kind == "end":
        result, code = ev.data.get("result"), ev.data.get("exit_code")
        if target.kind == "task":
            return task_exit_code(result, code) if opts.until_done else 0
        tid = str(ev.data.get("task_run_id", ""))
        kept = held.pop(tid, None)
        if opts.failed and task_exit_code(result, code) != 0 and tid not in sel.failed_ids:
            sel.failed_ids.add(tid)
            # Its lines were held back until it was known to fail: show them now (from
            # the store too when more arrived than are held; each line once).
            if kept is None or len(kept) >= _HOLD:
                for line in forward(api, Target("task", tid), sel.history_params(), None):
                    printer.offer(line)
            for line in sorted(kept or [], key=lambda ln: ln.seq):
                printer.offer(line)
    return None


def _hold(held: dict[str, list[Line]], line: Line) -> None:
    kept = held.setdefault(line.task_run_id, [])
    if len(kept) < _HOLD:
        kept.append(line)


class _RunStatus:
    """A pipeline run's status from the runs index (``GET /api/v1/runs/{id}``).

    No event says "this run is over": a run is done when the index calls it final with
    no task running, and it stayed so for ``SETTLE_S`` with no line arriving (so a task
    that starts right after another ended is still followed)."""

    SETTLE_S = 2.0

    def __init__(self, api: Api, target: Target) -> None:
        self.api = api
        self.target = target
        self.status = "unknown"
        self._final_since: float | None = None

    def touch(self) -> None:
        """A line arrived: the run is not over yet."""
        self._final_since = None

    def done(self) -> bool:
        try:
            run = self.api.get(self.target.base)["run"]
        except ApiNotFoundError:
            run = {"status": "unknown"}  # not started yet
        self.status = str(run.get("status"))
        running = (run.get("tasks_by_status") or {}).get("running", 0)
        # A run is "failed" as soon as one task fails: wait for the others too.
        if self.status not in _FINAL or running:
            self._final_since = None
            return False
        now = time.monotonic()
        if self._final_since is None:
            self._final_since = now
        return now - self._final_since >= self.SETTLE_S

    def exit_code(self) -> int:
        return 0 if self.status == "succeeded" else 1
