"""Every line goes out once: dedupe by (task run, seq), the filters, gap notices, the
position to resume from."""

from __future__ import annotations

import re
from typing import TextIO

from collector_service.cli.logs._format import Formatter
from collector_service.cli.logs._lines import Line, SeenSeqs
from collector_service.cli.logs._select import Selection

__all__ = ["Printer"]

_CURSOR = re.compile(r"(\d+)-(\d+)(?:\.[^-]*)?(?:-(.*))?")


class Printer:
    def __init__(
        self, fmt: Formatter, sel: Selection, err: TextIO, *, kind: str, after: str | None
    ) -> None:
        self.fmt = fmt
        self.sel = sel
        self.err = err
        self.kind = kind
        self.after = after
        self.seen: dict[str, SeenSeqs] = {}
        self._prev: dict[str, int] = {}
        #: The last line received (shown or filtered out): where a resume continues.
        self.last: Line | None = None
        self.printed = 0
        #: A run's ``--after`` position in its order (timestamp, task run id, seq): lines
        #: at or before it were shown by the command that printed that cursor.
        self._floor: tuple[int, str, int] | None = None
        m = _CURSOR.fullmatch(after or "")
        if m is not None and kind == "run":
            self._floor = (int(m.group(2)), m.group(3) or "", int(m.group(1)))
        elif m is not None and m.group(3):
            self.seen.setdefault(m.group(3), SeenSeqs()).forget_below(int(m.group(1)))

    def notice(self, text: str) -> None:
        self.fmt.out.flush()
        self.err.write(f"tasklogs: {text}\n")
        self.err.flush()

    def offer(self, line: Line, *, show: bool = True) -> bool:
        """Write ``line`` unless it was delivered before or is filtered out; ``show=False``
        only records it (a position, not a line to print)."""
        if self._floor is not None and (line.timestamp_ns, line.task_run_id, line.seq) <= (
            self._floor
        ):
            return False
        if line.seq:
            seen = self.seen.get(line.task_run_id)
            if seen is None:
                seen = self.seen[line.task_run_id] = SeenSeqs()
            if not seen.add(line.seq):
                return False
            self._check_gap(line)
        self.last = line
        if not show or not self.sel.keep(line):
            return False
        self.fmt.write(line)
        self.printed += 1
        return True

    def _check_gap(self, line: Line) -> None:
        """Unfiltered, a task stream's seqs go up by one: a jump is lines that did not
        arrive. (A run interleaves its tasks' batches as they arrive: not checked.)"""
        if self.kind != "task":
            return
        prev = self._prev.get(line.task_run_id)
        self._prev[line.task_run_id] = max(prev or 0, line.seq)
        if prev is None or self.sel.opts.filtered or line.seq <= prev + 1:
            return
        self.notice(
            f"gap: lines {prev + 1}..{line.seq - 1} of task run {line.task_run_id} "
            "did not arrive (not stored, or lost before the service had them)"
        )

    @property
    def resume_cursor(self) -> str | None:
        return self.last.cursor if self.last is not None else self.after
