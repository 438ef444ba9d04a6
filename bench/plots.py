"""The harness's three plots (matplotlib, no display): throughput vs offered load, Export
latency percentiles vs offered load, RSS over time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt


def _series(rows: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault((row["target"], row["transport"]), []).append(row)
    for series in out.values():
        series.sort(key=lambda r: r["offered_lines_per_s"])
    return out


def throughput(result: dict[str, Any], path: Path) -> None:
    series = _series(result["runs"])
    transports = sorted({transport for _, transport in series})
    fig, axes = plt.subplots(1, len(transports), figsize=(8 * len(transports), 6), squeeze=False)
    for ax, transport in zip(axes[0], transports, strict=True):
        offered: list[float] = []
        for (target, tr), rows in series.items():
            if tr != transport:
                continue
            x = [r["offered_lines_per_s"] for r in rows]
            offered += x
            ax.plot(x, [r["acked_lines_per_s"] for r in rows], "o-", label=f"{target} acked")
            if "stored_lines_per_s" in rows[0]:
                y = [r["stored_lines_per_s"] for r in rows]
                ax.plot(x, y, "s--", label=f"{target} stored")
        ax.plot([0, max(offered)], [0, max(offered)], ":", color="grey", label="offered")
        for k, ref in result["references"].items():
            for key in ("chdb_bulk_insert_lines_per_s", "postgres_copy_lines_per_s"):
                if key in ref:
                    ax.axhline(ref[key], linestyle="-.", linewidth=0.8, color="black")
                    label = f"{key.removesuffix('_lines_per_s')} ({k} lines/Export)"
                    ax.annotate(label, (0, ref[key]), fontsize=7)
        ax.set_xlabel("offered lines/s (N tasks x R lines/s)")
        ax.set_ylabel("lines/s (median of repeats)")
        ax.set_title(f"Throughput vs offered load, OTLP/{transport}")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def latency(result: dict[str, Any], path: Path) -> None:
    series = _series(result["runs"])
    fig, axes = plt.subplots(1, 3, figsize=(14, 5), sharex=True)
    for ax, q in zip(axes, ("p50", "p90", "p99"), strict=True):
        for (target, transport), rows in series.items():
            x = [r["offered_lines_per_s"] for r in rows]
            ax.plot(x, [r[f"{q}_ms"] for r in rows], "o-", label=f"{target} {transport}")
        ax.set_title(f"Export latency {q}")
        ax.set_xlabel("offered lines/s")
        ax.set_ylabel("ms")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def rss(result: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(9, 5))
    for name, samples in result["rss_kib_over_time"].items():
        if samples:
            ax.plot([t for t, _ in samples], [kib / 1024 for _, kib in samples], label=name)
    ax.set_xlabel("seconds since the harness started")
    ax.set_ylabel("RSS MiB")
    ax.set_title("RSS over time (each process while its target ran)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw(result: dict[str, Any], out: Path) -> list[Path]:
    paths = [out / "throughput_vs_load.png", out / "latency_vs_load.png", out / "rss_over_time.png"]
    throughput(result, paths[0])
    latency(result, paths[1])
    rss(result, paths[2])
    return paths
