"""Soak: a steady load for a long time with a fault every few minutes; zero lost, memory flat.

The deployment the README recommends for chDB with Redis: `tasklogs serve` (receivers,
API, writers, owner of chDB) plus a `tasklogs worker` for the live tail, a redis-server
of its own with AOF. A load of --rate lines/s (every line with ``tasklogs.seq``, retried
like an OTel SDK retries) runs for --minutes; every --fault-every seconds one fault, in
turn: SIGKILL serve (and restart it), SIGKILL the worker (and restart it), SIGKILL Redis
(and restart it on its AOF), the chDB directory read-only for 20 s (``chmod -R a-w``;
serve runs without CAP_DAC_OVERRIDE so root obeys it). The RSS of serve and the worker is
sampled every 10 s. At the end: every acknowledged line must be stored (``lost`` 0), and
the report gives duplicates, refusals, faults and RSS (first, max, last per process).

    .venv/bin/python -m bench.soak [--minutes 30] [--rate 10000] [--fault-every 300]

``--faults worker,redis,read-only`` leaves serve's SIGKILL out of the turn (any subset,
in that order; default all four), so one serve process lives the whole run through the
other faults and its memory is measured across them. ``--fault-every 0`` runs without
faults (one serve process for the whole run, so its
memory over a long life is measured; the report's ``slope_mib_per_min_last_2_3`` is the
RSS trend after warm-up).

Results go to bench/results/soak.json (--out; without faults soak_nofault_run.json, as
bench/results/soak_nofault.json holds the before/after comparison of bench/README.md).
Needs root (capsh), redis-server and the dev install (it reuses the fault suite's
harness in tests/faults/).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.e2e.durability_support import count_rows, rss_kib  # noqa: E402
from tests.faults.servers import PrivateRedis  # noqa: E402
from tests.faults.support import Load, Service, wait_for  # noqa: E402
from tests.redis_support import RedisTarget  # noqa: E402

_EXPORTERS = (
    "  clickhouse:\n    batch: {send_batch_max_size: 65536, timeout_ms: 200}\n"
    "    retry_on_failure: {initial_interval_ms: 100, max_interval_ms: 2000}\n"
)


def _kill_serve(svc: Service, redis: PrivateRedis) -> None:
    svc.kill("serve")
    svc.serve()


def _kill_worker(svc: Service, redis: PrivateRedis) -> None:
    svc.kill("live")
    svc.worker("live", "--exporter", "live_tail")


def _kill_redis(svc: Service, redis: PrivateRedis) -> None:
    redis.kill()
    time.sleep(2)
    redis.start()


def _read_only(svc: Service, redis: PrivateRedis) -> None:
    store = svc.data / "chdb"
    subprocess.run(["chmod", "-R", "a-w", str(store)], check=True)
    time.sleep(20)
    subprocess.run(["chmod", "-R", "u+w", str(store)], check=True)


#: The faults in turn, by ``--faults`` name: (what the report calls it, the fault).
FAULTS = {
    "serve": ("sigkill serve", _kill_serve),
    "worker": ("sigkill worker", _kill_worker),
    "redis": ("sigkill redis", _kill_redis),
    "read-only": ("chdb read-only 20 s", _read_only),
}


def _rss(svc: Service) -> dict[str, int]:
    out = {}
    for name in ("serve", "live"):
        proc = svc.procs.get(name)
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(OSError, AssertionError):
                pid = _leaf(proc.pid)
                out[name] = rss_kib(pid)
                out[f"{name}_anon"] = _status_kib(pid, "RssAnon")
    return out


def _status_kib(pid: int, key: str) -> int:
    """One KiB figure of /proc/PID/status (RssAnon: heap, not the mapped chDB library)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {key}")


def _leaf(pid: int) -> int:
    """The python process under ``capsh -c`` (the process whose memory we want)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = children.read_text().split() if children.exists() else []
    return _leaf(int(kids[0])) if kids else pid


def _slope(samples: list[dict[str, Any]], name: str) -> float | None:
    """Least-squares slope of ``name``'s RSS in MiB/min over the last 2/3 of the run.

    "Flat" means no upward trend once warmed up: the first third (start-up, caches
    filling) is left out. ``None`` with fewer than 3 samples.
    """
    points = [(s["t"] / 60, s[name] / 1024) for s in samples if name in s]
    points = points[len(points) // 3 :]
    if len(points) < 3:
        return None
    mean_t = sum(t for t, _ in points) / len(points)
    mean_m = sum(m for _, m in points) / len(points)
    var = sum((t - mean_t) ** 2 for t, _ in points)
    cov = sum((t - mean_t) * (m - mean_m) for t, m in points)
    return round(cov / var, 2) if var else None


def _rss_summary(samples: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    rss: dict[str, dict[str, Any]] = {}
    for name in ("serve", "live", "serve_anon", "live_anon"):
        values = [s[name] for s in samples if name in s]
        if values:
            rss[name] = {
                "first_kib": values[0],
                "max_kib": max(values),
                "last_kib": values[-1],
                "slope_mib_per_min_last_2_3": _slope(samples, name),
            }
    return rss


def run(
    minutes: float,
    rate: float,
    fault_every: float,
    senders: int,
    faults_in_turn: tuple[str, ...] = tuple(FAULTS),
) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="tasklogs-soak-"))
    redis = PrivateRedis(root / "redis")
    redis.start()
    svc = Service(
        root, _EXPORTERS, "clickhouse", redis=RedisTarget(redis.url, False, "soak"), no_dac=True
    )
    svc.write()
    # 512-line requests (an OTel SDK's batch), 4 senders in flight at once, and a load
    # that catches up after each outage (one sender, one request at a time, reached
    # only ~800-1,900 lines/s: it waited for each answer in turn).
    load = Load(
        svc.endpoint, tasks=senders * 4, per_request=512, rate=rate, senders=senders, catch_up=True
    )
    samples: list[dict[str, Any]] = []
    faults: list[dict[str, Any]] = []
    try:
        svc.serve()
        svc.worker("live", "--exporter", "live_tail")
        load.start()
        load_started = time.monotonic()
        no_faults = fault_every <= 0
        next_fault, next_sample, turn = load_started + fault_every, load_started, 0
        while time.monotonic() - load_started < minutes * 60:
            now = time.monotonic()
            if now >= next_sample:
                t = round(now - load_started)
                samples.append(
                    {"t": t, "acked": load.acked_lines, "load1": os.getloadavg()[0], **_rss(svc)}
                )
                print(json.dumps(samples[-1]), flush=True)
                next_sample = now + 10
            if not no_faults and now >= next_fault:
                name, fault = FAULTS[faults_in_turn[turn % len(faults_in_turn)]]
                t0 = time.monotonic()
                fault(svc, redis)
                faults.append({"t": round(t0 - load_started), "fault": name,
                               "seconds": round(time.monotonic() - t0, 1)})  # fmt: skip
                print(f"{faults[-1]} acked={load.acked_lines}", flush=True)
                turn += 1
                next_fault = time.monotonic() + fault_every
            time.sleep(0.5)
        elapsed = time.monotonic() - load_started
        load.finish()
        wait_for(lambda: svc.readyz()[0] == 200, 120, "ready at the end")
        target = svc.redis
        assert target is not None
        stream = "{soak:ingest:0}"
        wait_for(lambda: target.backlog(stream, "clickhouse") == 0, 600, "the backlog to drain")
    finally:
        load.stopping.set()
        svc.stop_all()
        redis.stop()
    total, distinct = count_rows(svc.data)
    rss = _rss_summary(samples)
    return {
        "minutes": round(elapsed / 60, 2),
        "fault_turn": list(faults_in_turn) if fault_every > 0 else [],
        "target_rate": rate,
        "senders": senders,
        "lines_per_request": load.per_request,
        "achieved_rate": round(load.acked_lines / elapsed),
        "acked": load.acked_lines,
        "stored_distinct": distinct,
        "stored_total": total,
        "lost": load.acked_lines - distinct,
        "duplicates": total - distinct,
        "resent_requests": load.resent,
        "refusals": dict(load.refusals),
        "faults": faults,
        "rss": rss,
        "load_average": {
            "min": min((s["load1"] for s in samples), default=0.0),
            "max": max((s["load1"] for s in samples), default=0.0),
        },
        "samples": samples,
        "data": str(root),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--rate", type=float, default=10_000.0)
    p.add_argument(
        "--fault-every", type=float, default=300.0, help="seconds between faults (0: no faults)"
    )
    p.add_argument("--senders", type=int, default=4, help="sender threads (requests in flight)")
    p.add_argument(
        "--faults",
        default=",".join(FAULTS),
        help=f"the faults in turn, comma-separated, of {', '.join(FAULTS)}",
    )
    p.add_argument(
        "--out", type=Path, default=None, help="default: soak.json (soak_nofault_run.json: none)"
    )
    args = p.parse_args()
    faults = tuple(f.strip() for f in args.faults.split(",") if f.strip())
    unknown = sorted(set(faults) - set(FAULTS))
    if unknown or not faults:
        p.error(f"--faults: unknown {unknown or 'empty'}; choose from {', '.join(FAULTS)}")
    if args.out is None:
        name = "soak.json" if args.fault_every > 0 else "soak_nofault_run.json"
        args.out = REPO / "bench" / "results" / name
    result = run(args.minutes, args.rate, args.fault_every, args.senders, faults)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    summary = {k: v for k, v in result.items() if k != "samples"}
    print(json.dumps(summary, indent=2))
    if result["lost"]:
        raise SystemExit(f"LOST {result['lost']} acknowledged lines")


if __name__ == "__main__":
    main()
