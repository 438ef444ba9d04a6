"""A small Python task: its logging records and its prints all become OTLP logs.

Identity comes from the environment (TASKLOGS_TASK_RUN_ID, TASKLOGS_PIPELINE_RUN_ID, ...),
the collector endpoint from OTEL_EXPORTER_OTLP_ENDPOINT (default http://127.0.0.1:4317).
"""

from __future__ import annotations

import logging
import sys
import time

import otel_sdk_ext

otel_sdk_ext.configure(task_name="demo-task", pipeline_name="demo")
log = logging.getLogger("demo")

log.info("starting the demo task")
for step in range(1, 4):
    print(f"step {step}/3: working")
    time.sleep(0.05)
log.warning("step 3 was slow")
print("a line on stderr", file=sys.stderr)
log.info("finished")
