#!/usr/bin/env bash
# The main job on the embedded default (no servers): start `tasklogs serve` (OTLP/gRPC on
# 127.0.0.1:4317, chDB under .tasklogs-demo/, HTTP API on 127.0.0.1:8080), run two demo
# tasks (a Python task using otel_sdk_ext, and a shell command under `tasklogs run`), print
# their stored logs back with `tasklogs logs`, then stop the service gracefully.
set -euo pipefail
cd "$(dirname "$0")/.."

export TASKLOGS_DATA_DIR="${TASKLOGS_DATA_DIR:-$PWD/.tasklogs-demo}"
api="http://127.0.0.1:8080"
run_id="demo-$(date +%Y%m%d-%H%M%S)"
ready() {
    python -c "import sys, urllib.request as u; u.urlopen(sys.argv[1], timeout=1)" \
        "$api/readyz" >/dev/null 2>&1
}
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "tasklogs serve  (data in $TASKLOGS_DATA_DIR)"
tasklogs serve 2> >(sed -u 's/^/  [serve] /' >&2) &
serve_pid=$!
trap 'kill -TERM $serve_pid 2>/dev/null || true; wait $serve_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
    ready && break
    kill -0 $serve_pid 2>/dev/null || { echo "tasklogs serve failed to start" >&2; exit 1; }
    sleep 0.1
done
ready || { echo "tasklogs serve is not ready" >&2; exit 1; }

say "python examples/demo_task.py   (otel_sdk_ext: logging + print)"
TASKLOGS_TASK_RUN_ID="$run_id-py" TASKLOGS_PIPELINE_RUN_ID="$run_id" \
    python examples/demo_task.py

say "tasklogs run -- sh -c ...   (any language; exits 3)"
set +e
tasklogs run --task-run-id "$run_id-sh" --pipeline-run-id "$run_id" --task-name shell -- \
    sh -c 'echo "compiling..."; echo "warning: deprecated flag" >&2; echo "done"; exit 3'
echo "  exit code: $?"
set -e

sleep 0.5  # the service batches writes for up to 200 ms
say "tasklogs logs $run_id-py"
tasklogs logs "$run_id-py"
say "tasklogs logs $run_id-sh"
tasklogs logs "$run_id-sh"

say "stopping tasklogs serve (drains its queue)"
kill -TERM $serve_pid
wait $serve_pid
trap - EXIT
say "stored for good: read again with the service stopped"
tasklogs logs "$run_id-sh" -o raw
