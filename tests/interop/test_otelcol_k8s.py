"""Kubernetes pod logs through a real ``otelcol-contrib`` with the shipped
``deploy/otelcol/k8s-pod-logs.yaml``: files laid out and written as the kubelet writes
them (CRI format, partial lines, stdout and stderr) arrive in a real ``tasklogs serve``
under the pod's task identity, each line once, at its own nanosecond time.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.interop.support import Otelcol, start_tasklogs
from tests.support import REPO

pytestmark = pytest.mark.e2e

PODS = REPO / "deploy" / "otelcol" / "k8s-pod-logs.yaml"
T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


def _cri(i: int, stream: str, tag: str, text: str) -> str:
    ns = T0 + i * 1_000_001  # distinct times, nanoseconds kept
    secs, frac = divmod(ns, 10**9)
    stamp = f"2026-01-01T00:{secs % 3600 // 60:02d}:{secs % 60:02d}.{frac:09d}Z"
    return f"{stamp} {stream} {tag} {text}\n"


def test_pod_container_logs_arrive_under_the_pods_identity(tmp_path: Path) -> None:
    pod = f"build-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "pods" / f"ci_{pod}_{uuid.uuid4()}" / "step" / "0.log"
    log.parent.mkdir(parents=True)
    lines = []
    for i in range(1, 1001):
        if i % 100 == 0:  # a line the runtime wrote in two parts
            lines += [
                _cri(i, "stdout", "P", f"long line {i} first half, "),
                _cri(i, "stdout", "F", "second half"),
            ]
        else:
            lines.append(_cri(i, "stderr" if i % 7 == 0 else "stdout", "F", f"line {i}"))
    log.write_text("".join(lines), encoding="utf-8")
    svc = start_tasklogs(tmp_path)
    env = {"TASKLOGS_POD_LOG_DIR": str(tmp_path / "pods"), "TASKLOGS_OTLP_HTTP": svc.http_url}
    col = Otelcol.start(PODS, tmp_path / "otelcol.log", env=env)
    try:
        records = svc.service.wait_for(pod, 1000, timeout=60)
    finally:
        col.stop()
        svc.service.stop()
    want = [
        f"long line {i} first half, second half" if i % 100 == 0 else f"line {i}"
        for i in range(1, 1001)
    ]
    assert [r["body"] for r in records] == want
    assert [r["timestamp_ns"] for r in records] == [T0 + i * 1_000_001 for i in range(1, 1001)]
    streams = [r["log_attributes"]["log.iostream"] for r in records]
    assert streams == ["stderr" if i % 7 == 0 and i % 100 else "stdout" for i in range(1, 1001)]
    res = records[0]["resource_attributes"]
    assert res["cicd.pipeline.task.run.id"] == pod
    assert res["cicd.pipeline.task.name"] == "step"
    assert res["cicd.pipeline.run.id"] == "ci"
    assert res["tasklogs.attempt"] == "0"
    assert res["k8s.pod.name"] == pod
