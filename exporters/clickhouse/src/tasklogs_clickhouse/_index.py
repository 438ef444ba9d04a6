"""The runs index of the ClickHouse store: DDL, queries and rows (collector_service/store.py).

A materialized view on the log table feeds an ``AggregatingMergeTree`` keyed by task run
(``sql/create_task_runs*.sql``), so runs pages and task summaries read one row per task
run and never the log table. Every value is a bound query parameter; only validated
identifiers and column expressions learned from the table are substituted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from collector_service.component.store import (
    RunsPage,
    RunsQuery,
    RunSummaryRow,
    TaskSummaryRow,
)
from tasklogs_clickhouse._history import Columns
from tasklogs_clickhouse._sql import render

__all__ = ["NO_ERROR_SEQ", "Index", "run_row", "runs_page", "task_row"]

#: ``FirstErrorSeq`` of a task run without an error line.
NO_ERROR_SEQ = 2**64 - 1


class Index:
    """SQL of the runs index over one log table (``table``) and its index table."""

    def __init__(self, table: str, index: str, view: str, cols: Columns) -> None:
        self.table = table
        self.index = index
        self.view = view
        self.cols = cols

    def _select(self) -> str:
        return render(
            "task_runs_select",
            source=self.table,
            task_run=self.cols.task_run,
            pipeline_run=self.cols.pipeline_run,
            seq=self.cols.seq,
            event_name=self.cols.event_name,
        )

    def create_table(self, on_cluster: str, ttl: str, settings: str) -> str:
        return render(
            "create_task_runs", table=self.index, on_cluster=on_cluster, ttl=ttl, settings=settings
        )

    def create_view(self, on_cluster: str) -> str:
        return render(
            "create_task_runs_mv",
            view=self.view,
            on_cluster=on_cluster,
            index=self.index,
            select=self._select(),
        )

    def backfill(self) -> str:
        return render("backfill_task_runs", index=self.index, select=self._select())

    def owners(self, ids: list[str]) -> tuple[str, dict[str, Any]]:
        return render("task_owners", index=self.index), {"ids": ids}

    def _tasks(self, where: str, having: list[str]) -> str:
        return render(
            "task_runs",
            index=self.index,
            where=where,
            having=" AND ".join(having) if having else "1",
        )

    def task(self, task_run_id: str, tenant: str | None) -> tuple[str, dict[str, Any]]:
        params: dict[str, Any] = {"task_run_id": task_run_id}
        having = []
        if tenant is not None:
            having.append("tenant = {tenant:String}")
            params["tenant"] = tenant
        return self._tasks("TaskRunId = {task_run_id:String}", having), params

    def run(self, run_id: str, tenant: str | None) -> tuple[str, dict[str, Any]]:
        params: dict[str, Any] = {"run_id": run_id}
        having = []
        if tenant is not None:
            having.append("tenant = {tenant:String}")
            params["tenant"] = tenant
        where = "PipelineRunId = {run_id:String}"
        return self._tasks(where, having) + "\nORDER BY first_ns, task_run_id", params

    def runs(self, q: RunsQuery) -> tuple[str, dict[str, Any]]:
        params: dict[str, Any] = {"limit": q.limit}
        inner_having = []
        if q.tenant is not None:
            inner_having.append("tenant = {tenant:String}")
            params["tenant"] = q.tenant
        having = ["1"]
        if q.pipeline is not None:
            having.append("run_pipeline = {pipeline:String}")
            params["pipeline"] = q.pipeline
        if q.since_ns is not None:
            having.append("run_start >= {since_ns:Int64}")
            params["since_ns"] = q.since_ns
        if q.until_ns is not None:
            having.append("run_start < {until_ns:Int64}")
            params["until_ns"] = q.until_ns
        if q.text is not None:
            having.append(
                "(positionCaseInsensitiveUTF8(run_pipeline, {text:String}) > 0"
                " OR positionCaseInsensitiveUTF8(run_id, {text:String}) > 0"
                " OR arrayExists(n -> positionCaseInsensitiveUTF8(n, {text:String}) > 0,"
                " groupArray(task_name)))"
            )
            params["text"] = q.text
        if q.after is not None:
            having.append("(run_start, run_id) < ({after_start:Int64}, {after_run:String})")
            params["after_start"], params["after_run"] = q.after.start_ns, q.after.run_id
        inner = self._tasks("PipelineRunId != ''", inner_having)
        return render("runs", inner=inner, having=" AND ".join(having)), params


def task_row(r: Sequence[Any]) -> TaskSummaryRow:
    """A row of ``task_runs.sql`` (or a task tuple of ``runs.sql``): no error line is
    ``NO_ERROR_SEQ``, no exit code ``''`` (or text that is not a number), no end 0."""
    first_error = int(r[11])
    code = str(r[14]).strip()
    try:
        exit_code: int | None = int(code) if code else None
    except ValueError:
        exit_code = None
    first_error_seq = None if first_error == NO_ERROR_SEQ else first_error
    return TaskSummaryRow.from_row(
        (*r[:11], first_error_seq, r[12], r[13], exit_code, int(r[15]) or None)
    )


def run_row(run_id: str, pipeline_name: str, tasks: Sequence[Sequence[Any]]) -> RunSummaryRow:
    rows = sorted((task_row(t) for t in tasks), key=lambda t: (t.first_ns, t.task_run_id))
    return RunSummaryRow(run_id=run_id, pipeline_name=pipeline_name, tasks=rows)


def runs_page(q: RunsQuery, rows: Sequence[Sequence[Any]]) -> RunsPage:
    runs = [run_row(str(r[0]), str(r[1]), r[3]) for r in rows]
    return RunsPage(runs, runs[-1].cursor if len(runs) == q.limit else None)
