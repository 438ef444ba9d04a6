"""``python -m bench all``: every target under the same load, each figure 3 times, medians
saved beside the references of the same run (see bench/README.md for what each means)."""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench import references, targets
from bench.common import (
    LoadGenerator,
    LoadSpec,
    RssSampler,
    cpu_seconds,
    load_average,
    py_spy,
    rss_kib,
    save_json,
    top_functions,
    wait_for,
)


@dataclass(frozen=True)
class Plan:
    targets: tuple[str, ...]
    tasks: int
    rates: tuple[float, ...]  # lines/s per simulated task
    transports: tuple[str, ...]
    seconds: float
    repeat: int
    ref_rows: int
    redis_url: str
    out: Path
    profile: bool
    load_procs: int
    drain_s: float
    warmup_s: float


def _git_commit() -> str:
    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    return out.stdout.strip()


def one_run(
    target: targets.Target, spec: LoadSpec, gen: LoadGenerator, plan: Plan, profile: Path | None
) -> dict[str, Any]:
    """One load of ``spec.seconds``, then until every acknowledged line is stored."""
    load_start = load_average()
    cpu0 = {role: cpu_seconds(pid) for role, pid in target.pids.items()}
    stored0 = target.stored() if target.stored else 0
    with contextlib.ExitStack() as stack:
        if profile is not None:
            for role, pid in target.pids.items():
                raw = profile / f"{target.name}-{role}.txt"
                stack.enter_context(py_spy(pid, raw, spec.seconds + 0.5))
        result = gen.run(spec)
        summary: dict[str, Any] = result.summary()
        if target.stored is not None:
            stored_fn = target.stored
            goal = result.exports if target.stored_counts_exports else result.acked_lines
            with contextlib.suppress(TimeoutError):
                wait_for(lambda: stored_fn() - stored0 >= goal, plan.drain_s, "the writers")
            stored = stored_fn() - stored0
            if target.stored_counts_exports:
                stored *= spec.lines_per_export
            took = time.time() - gen.started_at
            summary["stored_lines"] = stored
            summary["all_acked_stored"] = stored >= result.acked_lines
            summary["stored_lines_per_s"] = round(min(stored, result.acked_lines) / took)
    for role, pid in target.pids.items():
        used = cpu_seconds(pid) - cpu0[role]
        summary[f"{role}_cpu_us_per_line"] = round(used / max(1, result.acked_lines) * 1e6, 2)
        summary[f"{role}_rss_mib"] = round(rss_kib(pid) / 1024, 1)
    summary["load_avg"] = round((load_start + load_average()) / 2, 2)
    return summary


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in runs[0].items():
        if isinstance(value, bool):
            out[key] = all(r[key] for r in runs)
        elif isinstance(value, int | float):
            out[key] = round(statistics.median(r[key] for r in runs), 2)
    return out


def drive_target(
    plan: Plan, name: str, gen: LoadGenerator, rss: RssSampler, root: Path
) -> list[dict[str, Any]]:
    """Start one target, warm it up, run every load level ``plan.repeat`` times, stop it."""
    rows: list[dict[str, Any]] = []
    top = max(plan.rates)
    with targets.start(name, root, plan.redis_url) as target:
        for role, pid in target.pids.items():
            rss.watch(f"{name}/{role}", pid)
        for transport in plan.transports:
            addr = target.grpc if transport == "grpc" else target.http
            for rate in plan.rates:
                spec = LoadSpec(addr, transport, plan.tasks, rate, plan.seconds, token=target.token)
                gen.warm(spec)
                if plan.warmup_s and rate == plan.rates[0]:
                    # The first Exports import and warm up what a steady state never pays for.
                    one_run(target, replace(spec, seconds=plan.warmup_s), gen, plan, None)
                reps = []
                for r in range(plan.repeat):
                    prof = None
                    profiling = plan.profile and not name.startswith("rotel")
                    if profiling and r == 0 and rate == top and transport == plan.transports[0]:
                        prof = plan.out / "profiles"
                    reps.append(one_run(target, spec, gen, plan, prof))
                row = {"target": name, "transport": transport, "tasks": plan.tasks}
                row |= {"lines_per_task_s": rate, "lines_per_export": spec.lines_per_export}
                row |= medians(reps) | {"repeats": reps}
                rows.append(row)
                print(f"   {transport} {spec.offered:>9,.0f}/s offered: {_brief(row)}", flush=True)
        for role in target.pids:
            rss.unwatch(f"{name}/{role}")
    return rows


def drive(
    plan: Plan, gen: LoadGenerator, rss: RssSampler, tmp: Path
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Every target in turn; one that fails is reported and the others still run."""
    rows: list[dict[str, Any]] = []
    failures: dict[str, str] = {}
    for name in plan.targets:
        root = tmp / name
        root.mkdir()
        print(f"== {name}", flush=True)
        try:
            rows += drive_target(plan, name, gen, rss, root)
        except Exception as exc:
            failures[name] = f"{type(exc).__name__}: {exc}"
            print(f"   FAILED: {failures[name]}", flush=True)
    return rows, failures


def _brief(row: dict[str, Any]) -> str:
    text = f"acked {row['acked_lines_per_s']:,.0f}/s p99 {row['p99_ms']} ms"
    if "stored_lines_per_s" in row:
        text += f", stored {row['stored_lines_per_s']:,.0f}/s"
    return text + f" (load {row['load_avg']})"


def run(plan: Plan) -> dict[str, Any]:
    from bench import plots, report

    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    gen = LoadGenerator(plan.load_procs)
    try:
        with RssSampler() as rss, tempfile.TemporaryDirectory(prefix="tasklogs-bench-") as tmp:
            rows, failures = drive(plan, gen, rss, Path(tmp))
    finally:
        gen.close()
    stores = set(plan.targets) & set(targets.CONFIGS)
    refs: dict[str, Any] = {}
    for k in sorted({row["lines_per_export"] for row in rows}):
        print(f"== references, {k} lines per Export", flush=True)
        refs[str(k)] = references.measure(stores, plan.ref_rows, k, plan.redis_url, plan.repeat)
        refs[str(k)]["load_avg"] = load_average()
        for key, why in refs[str(k)]["errors"].items():
            failures[f"reference {key} ({k} lines/Export)"] = why
    result: dict[str, Any] = {
        "started": started,
        "commit": _git_commit(),
        "plan": {k: str(v) if isinstance(v, Path) else v for k, v in plan.__dict__.items()},
        "failures": failures,
        "runs": rows,
        "references": refs,
        "rss_peak_mib": {
            name: round(max(kib for _, kib in samples) / 1024, 1)
            for name, samples in rss.samples.items()
            if samples
        },
        "rss_kib_over_time": rss.samples,
    }
    result["figures"] = report.figures(rows, refs)
    if plan.profile:
        result["profiles"] = {
            raw.stem: top_functions(raw) for raw in sorted((plan.out / "profiles").glob("*.txt"))
        }
    save_json(plan.out / "harness.json", result)
    plots.draw(result, plan.out)
    print(report.table(result["figures"]))
    if plan.profile:
        print(report.profile_table(result["profiles"]))
    print("peak RSS MiB:", ", ".join(f"{k} {v}" for k, v in result["rss_peak_mib"].items()))
    for name, why in failures.items():
        print(f"FAILED {name}: {why}")
    return result
