"""The figures table: every tasklogs figure beside a reference of the same run, as a ratio,
with the load average of the machine while each was measured."""

from __future__ import annotations

from typing import Any

_STORE_REF = {
    "embedded": ("chdb_bulk_insert_lines_per_s", "chDB bulk insert (push)"),
    "redis": ("chdb_bulk_insert_lines_per_s", "chDB bulk insert (push)"),
    "postgres": ("postgres_copy_lines_per_s", "PostgreSQL COPY (push)"),
}


_VALUE = {
    "acked lines/s": "acked_lines_per_s",
    "stored lines/s": "stored_lines_per_s",
    "p99 Export ms": "p99_ms",
    "receiver CPU us/line": "receiver_cpu_us_per_line",
}


def _find(rows: list[dict[str, Any]], target: str, like: dict[str, Any]) -> dict[str, Any] | None:
    for row in rows:
        if (
            row["target"] == target
            and row["transport"] == like["transport"]
            and row["lines_per_task_s"] == like["lines_per_task_s"]
        ):
            return row
    return None


def figures(rows: list[dict[str, Any]], refs: dict[str, Any]) -> list[dict[str, Any]]:
    """Every figure of every run beside each of its references, as a ratio."""
    out: list[dict[str, Any]] = []
    for row in rows:
        out += _row_figures(row, rows, refs[str(row["lines_per_export"])])
    return out


def _row_figures(
    row: dict[str, Any], rows: list[dict[str, Any]], ref: dict[str, Any]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(figure: str, reference: str, ref_value: float, ref_load: float) -> None:
        value = row.get(_VALUE[figure], 0.0)
        out.append(
            {
                "target": row["target"],
                "transport": row["transport"],
                "offered_lines_per_s": row["offered_lines_per_s"],
                "figure": figure,
                "value": value,
                "reference": reference,
                "reference_value": ref_value,
                "ratio": round(value / ref_value, 3) if ref_value else None,
                "load_avg": row["load_avg"],
                "reference_load_avg": ref_load,
            }
        )

    if row["target"].startswith("rotel"):
        add("acked lines/s", "offered", row["offered_lines_per_s"], row["load_avg"])
        return out
    for peer in ("rotel-blackhole", "rotel-forward"):
        if (p := _find(rows, peer, row)) is not None:
            label, load = peer.replace("-", " "), p["load_avg"]
            add("acked lines/s", f"{label} acked", p["acked_lines_per_s"], load)
            add("p99 Export ms", f"{label} p99", p["p99_ms"], load)
            add("receiver CPU us/line", f"{label} CPU", p["receiver_cpu_us_per_line"], load)
    rl = ref["load_avg"]
    parse = ref["protobuf_parse_lines_per_s"]
    if row["target"] == "receiver-null":
        add("acked lines/s", "protobuf parse alone", parse, rl)
        return out
    add("stored lines/s", "protobuf parse alone", parse, rl)
    add("stored lines/s", "columnar decode alone", ref["columnar_decode_lines_per_s"], rl)
    key, label = _STORE_REF[row["target"]]
    if key in ref:
        add("stored lines/s", label, ref[key], rl)
    if row["target"] == "redis" and "redis_xadd_pipelined_lines_per_s" in ref:
        add("acked lines/s", "pipelined Redis XADD", ref["redis_xadd_pipelined_lines_per_s"], rl)
    return out


def table(figs: list[dict[str, Any]]) -> str:
    head = [
        "target",
        "transport",
        "offered/s",
        "figure",
        "tasklogs",
        "reference",
        "ref",
        "ratio",
        "load",
    ]
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for f in figs:
        lines.append(
            " | ".join(
                (
                    f["target"], f["transport"], f"{f['offered_lines_per_s']:,.0f}", f["figure"],
                    f"{f['value']:,.2f}", f["reference"], f"{f['reference_value']:,.2f}",
                    "-" if f["ratio"] is None else f"{f['ratio']:.3f}", f"{f['load_avg']:.1f}",
                )
            )
        )  # fmt: skip
    return "\n".join(lines)


def profile_table(profiles: dict[str, list[dict[str, Any]]], n: int = 8) -> str:
    lines = []
    for name, top in profiles.items():
        lines.append(f"-- py-spy {name}: self % / inclusive %")
        for t in top[:n]:
            lines.append(f"   {t['self_pct']:5.1f} {t['inclusive_pct']:5.1f}  {t['function']}")
    return "\n".join(lines)
