"""``tasklogs-run -- CMD``: run any command and ship its stdout/stderr as OTLP logs.

The producer's own command (it needs none of the server). The full install's
``tasklogs run`` is the same command: it calls :func:`add_arguments` and :func:`run`.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from collections.abc import Sequence

from otel_sdk_ext.errors import TasklogsSdkError

__all__ = ["USAGE", "add_arguments", "main", "run"]

USAGE = "%(prog)s [options] -- CMD [ARGS...]"


def add_arguments(run: argparse.ArgumentParser) -> None:
    """The options of ``run``: the task's identity, the endpoint, the command."""
    run.add_argument(
        "--task-run-id", help="task run id (env TASKLOGS_TASK_RUN_ID; default: new uuid)"
    )
    run.add_argument("--task-name", help="task name (env TASKLOGS_TASK_NAME)")
    run.add_argument("--pipeline-run-id", help="pipeline run id (env TASKLOGS_PIPELINE_RUN_ID)")
    run.add_argument("--pipeline-name", help="pipeline name (env TASKLOGS_PIPELINE_NAME)")
    run.add_argument("--service-name", help="service.name (env OTEL_SERVICE_NAME)")
    run.add_argument(
        "--endpoint",
        help="OTLP endpoint (env OTEL_EXPORTER_OTLP_ENDPOINT; default http://127.0.0.1:4317; "
        "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf for OTLP/HTTP)",
    )
    run.add_argument(
        "--flush-timeout",
        type=float,
        metavar="SECONDS",
        help="bound on the final flush when the collector is unreachable "
        "(env TASKLOGS_FLUSH_TIMEOUT_S; default 5)",
    )
    run.add_argument("cmd", nargs=argparse.REMAINDER, metavar="CMD", help="the command, after --")


def run(args: argparse.Namespace) -> int:
    """Run ``args.cmd`` under the wrapper; its exit code is the return value."""
    from otel_sdk_ext.identity import TaskIdentity
    from otel_sdk_ext.run import run_command
    from otel_sdk_ext.settings import Settings

    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        print(
            "tasklogs-run: error: no command given "
            "(usage: tasklogs-run [options] -- CMD [ARGS...])",
            file=sys.stderr,
        )
        return 2
    overrides = {
        k: v
        for k, v in {
            "task_run_id": args.task_run_id,
            "task_name": args.task_name,
            "pipeline_run_id": args.pipeline_run_id,
            "pipeline_name": args.pipeline_name,
            "service_name": args.service_name,
        }.items()
        if v is not None
    }
    if "task_run_id" not in overrides and not os.environ.get("TASKLOGS_TASK_RUN_ID"):
        overrides["task_run_id"] = str(uuid.uuid4())
        print(f"tasklogs: task run id {overrides['task_run_id']}", file=sys.stderr, flush=True)
    identity = TaskIdentity.from_env(**overrides)
    settings = Settings.from_env(endpoint=args.endpoint, flush_timeout_s=args.flush_timeout)
    return run_command(cmd, identity=identity, settings=settings)


def main(argv: Sequence[str] | None = None) -> int:
    """``tasklogs-run``: the entry point of the producer distribution."""
    parser = argparse.ArgumentParser(
        prog="tasklogs-run",
        usage=USAGE,
        description="Run a command and ship its stdout/stderr as OpenTelemetry logs.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except TasklogsSdkError as exc:
        print(f"tasklogs-run: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
