"""No regex can stall the service: RE2 everywhere, 400 for what RE2 refuses.

``exclude=(a+)+$`` against ``a`` * 28 + ``b`` took Python's ``re`` minutes on the event
loop that also runs the receivers; every /healthz and gRPC Export waited. Now the filter
runs in RE2 (linear time) and large pages off the loop: while such requests run, the
health probe and Exports keep answering (a liveness bound, not a benchmark).
"""

from __future__ import annotations

import threading
import time
import uuid

import grpc
import httpx
import pytest

from tests.adversarial._otlp import GrpcExporter, request, wait_stored
from tests.adversarial.conftest import TOKEN_A, Hostile

EVIL = "a" * 28 + "b"
#: Generous: a stalled loop took 45 s; a healthy one answers in milliseconds.
BOUND_S = 5.0


def _history(h: Hostile, tid: str, **params: str) -> httpx.Response:
    return httpx.get(
        f"{h.api_url}/api/v1/tasks/{tid}/logs",
        params={"limit": 10_000, **params},
        headers=h.headers(),
        timeout=120,
    )


def test_backtracking_regex_does_not_stall_health_or_ingest(hostile: Hostile) -> None:
    tid = f"evil-{uuid.uuid4().hex[:8]}"
    grpc_x = GrpcExporter(hostile.grpc_target, TOKEN_A)
    try:
        bodies = [EVIL] * 3000 + ["a" * 200_000 + "b"] * 4  # a page well over the inline bound
        assert grpc_x.export(request(tid, bodies).SerializeToString()) == grpc.StatusCode.OK
        assert wait_stored(hostile.api_url, tid, len(bodies)) == len(bodies)

        answers: list[tuple[int, int]] = []
        stop = threading.Event()

        def hammer() -> None:
            while not stop.is_set():
                for params in (
                    {"exclude": "(a+)+$"},
                    {"include": "(a|aa)+$"},
                    {"include": "^(a+)+b$", "exclude": "(x+x+)+y"},
                ):
                    r = _history(hostile, tid, **params)
                    answers.append((r.status_code, len(r.json().get("records", []))))

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for t in threads:
            t.start()
        worst_health = worst_export = 0.0
        try:
            other = f"bystander-{uuid.uuid4().hex[:8]}"
            deadline = time.monotonic() + 4
            seq = 1
            while time.monotonic() < deadline:
                t0 = time.monotonic()
                assert httpx.get(f"{hostile.api_url}/healthz", timeout=30).status_code == 200
                worst_health = max(worst_health, time.monotonic() - t0)
                t0 = time.monotonic()
                payload = request(other, ["still here"], first_seq=seq).SerializeToString()
                assert grpc_x.export(payload) == grpc.StatusCode.OK
                worst_export = max(worst_export, time.monotonic() - t0)
                seq += 1
                time.sleep(0.05)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=120)
        assert worst_health < BOUND_S, worst_health
        assert worst_export < BOUND_S, worst_export
        assert answers
        by_status = {status for status, _ in answers}
        assert by_status == {200}, answers[:5]
        # Semantics (RE2, as ClickHouse's match()): nothing ends in "a", all end in "b".
        counts = {n for _, n in answers}
        assert counts <= {0, len(bodies)}, counts
        assert _history(hostile, tid, exclude="(a+)+$").json()["records"][0]["body"] == EVIL
        assert _history(hostile, tid, include="(a|aa)+$").json()["records"] == []
    finally:
        grpc_x.close()


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(a)\1", "invalid escape sequence"),
        ("(?=a)b", "invalid perl operator"),
        ("a{5000}", "invalid repetition size"),
        ("(", "missing )"),
        ("x" * 2000, "longer than 1024 characters"),
        ("[z-a]", "invalid character class range"),
    ],
)
def test_patterns_re2_refuses_answer_400_with_the_reason(
    hostile: Hostile, pattern: str, reason: str
) -> None:
    tid = "any-task"
    for name in ("include", "exclude"):
        for path in ("logs", "logs/download", "logs/stream"):
            r = httpx.get(
                f"{hostile.api_url}/api/v1/tasks/{tid}/{path}",
                params={name: pattern},
                headers=hostile.headers(),
                timeout=30,
            )
            assert r.status_code == 400, (path, r.text)
            detail = r.json()["detail"]
            assert detail.startswith(f"{name}: "), detail
            assert reason in detail, detail
        r = httpx.get(
            f"{hostile.api_url}/api/v1/runs/run-1/logs/stream",
            params={name: pattern},
            headers=hostile.headers(),
            timeout=30,
        )
        assert r.status_code == 400, r.text
