"""``python -m bench all``: start each configuration and peer, drive them with one load
generator, print every figure beside its reference, save JSON and plots (bench/README.md).

    .venv/bin/python -m bench all                 # the full run (~30-40 min, a quiet machine)
    .venv/bin/python -m bench all --quick         # seconds: the smallest configuration
    .venv/bin/python -m bench all --profile       # py-spy of receiver and writer at full load
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from bench.common import RESULTS
from bench.harness import Plan, run
from bench.targets import CONFIGS, PEERS


@dataclass(frozen=True)
class Defaults:
    tasks: int
    rates: str
    seconds: float
    repeat: int
    ref_rows: int
    load_procs: int
    drain_s: float
    warmup_s: float


FULL = Defaults(100, "250,500,1000,1500,2000", 20.0, 3, 262_144, 2, 120.0, 3.0)
QUICK = Defaults(4, "250", 1.5, 1, 4096, 1, 10.0, 0.5)
QUICK_TARGETS = "embedded,rotel-blackhole"


def parse(argv: list[str] | None = None) -> Plan:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=("all",))
    ap.add_argument("--quick", action="store_true", help="seconds-long smoke run")
    ap.add_argument("--profile", action="store_true", help="py-spy at the highest load")
    ap.add_argument("--targets", help=f"comma-separated, of {', '.join(CONFIGS + PEERS)}")
    ap.add_argument("--tasks", type=int, help="simulated task processes (N)")
    ap.add_argument("--rates", help="lines/s per task (R), comma-separated load levels")
    ap.add_argument("--transports", default="grpc,http")
    ap.add_argument("--seconds", type=float, help="length of one load")
    ap.add_argument("--repeat", type=int, help="runs per figure (medians are saved)")
    ap.add_argument("--ref-rows", type=int, help="rows for the references")
    ap.add_argument("--load-procs", type=int, help="load generator processes")
    ap.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    ap.add_argument("--out", type=Path, help="results folder")
    args = ap.parse_args(argv)
    base = QUICK if args.quick else FULL
    targets = args.targets or (QUICK_TARGETS if args.quick else ",".join(CONFIGS + PEERS))
    unknown = set(targets.split(",")) - set(CONFIGS + PEERS)
    if unknown:
        ap.error(f"unknown targets: {', '.join(sorted(unknown))}")
    return Plan(
        targets=tuple(targets.split(",")),
        tasks=args.tasks or base.tasks,
        rates=tuple(float(r) for r in (args.rates or base.rates).split(",")),
        transports=tuple(args.transports.split(",")),
        seconds=args.seconds or base.seconds,
        repeat=args.repeat or base.repeat,
        ref_rows=args.ref_rows or base.ref_rows,
        redis_url=args.redis,
        out=args.out or RESULTS / ("harness-quick" if args.quick else "harness"),
        profile=args.profile,
        load_procs=args.load_procs or base.load_procs,
        drain_s=base.drain_s,
        warmup_s=base.warmup_s,
    )


def main(argv: list[str] | None = None) -> None:
    result = run(parse(argv))
    if result["failures"]:
        raise SystemExit(f"failed: {', '.join(result['failures'])}")


if __name__ == "__main__":
    main()
