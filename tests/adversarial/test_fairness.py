"""One tenant flooding cannot starve another: per-tenant budgets, and a real flood.

Tenant ``a`` sends about ten times tenant ``b``'s lines (several senders of 512-line
Exports, back to back); every one of ``b``'s Exports is accepted and every one of its
lines reaches ``b``'s live tail within a generous bound (a liveness check).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid

import grpc
import httpx
import pytest
from fastapi import HTTPException

from collector_service.errors import BackpressureError
from collector_service.receivers.accept import Ingestor, ReceiverSettings
from live_tail.auth import Identity
from live_tail.config import LiveTailConfig
from live_tail.guards import Guards
from tests.adversarial._otlp import GrpcExporter, request
from tests.adversarial.conftest import TOKEN_A, TOKEN_B, Hostile
from tests.collector_service.receiver_support import Sink

BOUND_S = 10.0


async def test_export_budget_is_per_tenant() -> None:
    sink = Sink(delay=0.3)
    ingestor = Ingestor(ReceiverSettings("otlp/fair", False, 2), sink)
    req = request("t", ["x"])
    payload = req.SerializeToString()

    async def send(tenant: str) -> str:
        try:
            await ingestor.export("grpc", req, payload, tenant)
        except BackpressureError as exc:
            return "refused" if exc.retry_after > 0 else "refused without a retry hint"
        return "ok"

    results = await asyncio.gather(*(send("a") for _ in range(5)), send("b"))
    assert sorted(results[:5]) == ["ok", "ok", "refused", "refused", "refused"]
    assert results[5] == "ok"  # b is not held back by a's flood
    assert await send("a") == "ok"  # and a's slots come back


def test_query_budget_is_per_tenant() -> None:
    class Ctx:
        config = LiveTailConfig(max_queries_per_tenant=1)

    guards = Guards(None, None, Ctx())  # type: ignore[arg-type]
    a, b = Identity("a"), Identity("b")
    with guards.query_slot(a):
        with pytest.raises(HTTPException) as refused, guards.query_slot(a):
            pass
        assert refused.value.status_code == 429
        assert refused.value.headers == {"Retry-After": "1"}
        with guards.query_slot(b):
            pass
    with guards.query_slot(a):
        pass
    assert guards.queries == {}


def _follow(hostile: Hostile, tid: str, want: int, seen: dict[int, float]) -> None:
    """Read b's task stream until ``want`` lines arrived (arrival time per seq)."""
    url = f"{hostile.api_url}/api/v1/tasks/{tid}/logs/stream"
    with (
        httpx.Client(timeout=httpx.Timeout(60, read=60)) as c,
        c.stream("GET", url, headers=hostile.headers(TOKEN_B)) as r,
    ):
        assert r.status_code == 200
        event = ""
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "log":
                seen.setdefault(json.loads(line[6:])["seq"], time.monotonic())
                if len(seen) >= want:
                    return


def test_flooding_tenant_does_not_starve_another(hostile: Hostile) -> None:
    run = uuid.uuid4().hex[:8]
    flood_tid, b_tid = f"flood-{run}", f"quiet-{run}"
    stop = threading.Event()
    flood_lines = [0]

    def flood() -> None:
        exporter = GrpcExporter(hostile.grpc_target, TOKEN_A)
        seq = 1
        try:
            while not stop.is_set():
                req = request(flood_tid, [f"flood {i}" for i in range(512)], first_seq=seq)
                if exporter.export(req.SerializeToString()) == grpc.StatusCode.OK:
                    flood_lines[0] += 512
                    seq += 512
        finally:
            exporter.close()

    b = GrpcExporter(hostile.grpc_target, TOKEN_B)
    lines = 40
    sent: dict[int, float] = {}
    seen: dict[int, float] = {}
    try:
        assert b.export(request(b_tid, ["hello"], first_seq=1).SerializeToString()) == (
            grpc.StatusCode.OK
        )
        sent[1] = time.monotonic()
        follower = threading.Thread(target=_follow, args=(hostile, b_tid, lines, seen))
        follower.start()
        floods = [threading.Thread(target=flood) for _ in range(4)]
        for t in floods:
            t.start()
        try:
            for seq in range(2, lines + 1):
                time.sleep(0.1)
                payload = request(b_tid, [f"b line {seq}"], first_seq=seq).SerializeToString()
                sent[seq] = time.monotonic()
                assert b.export(payload) == grpc.StatusCode.OK, seq
            follower.join(timeout=BOUND_S + 30)
        finally:
            stop.set()
            for t in floods:
                t.join(timeout=60)
    finally:
        b.close()
    assert flood_lines[0] >= 10 * lines, flood_lines  # a really sent ten times more
    assert sorted(seen) == list(range(1, lines + 1)), sorted(set(sent) - set(seen))
    worst = max(seen[s] - sent[s] for s in sent)
    assert worst < BOUND_S, worst
