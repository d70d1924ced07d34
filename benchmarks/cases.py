"""The cases table: every case the scale work asked for, its figure at each size
measured, the target and whether it was met. `report.build` judges them into the
result's `cases`; `table` prints them."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from benchmarks.runner import markdown_table, median


@dataclass(frozen=True)
class Case:
    case: str
    figure: str  # a figure name, or a pattern with {n} for every size measured
    metric: str
    label: str  # {n}: the size
    fmt: str
    target: str = ""
    op: str = ""
    limit: float = 0.0


CASES = (
    Case("1 clients", "clients_{n}", "connect_s", "{n:,} clients: connect all (s)", "{:.2f}", "< 2 s", "<", 2.0),
    Case("1 clients", "clients_{n}", "idle_cpu_pct", "{n:,} idle clients: dispatcher CPU (% of a core)", "{:.1f}", "< 10 %", "<", 10.0),
    Case("1 clients", "clients_{n}", "rss_idle_mb", "{n:,} idle clients: RSS floor after a collection (MB)", "{:,.0f}"),
    Case("1 clients", "clients_{n}", "rss_load_mb", "{n:,} clients working: peak RSS (MB)", "{:,.0f}", "< 300 MB", "<", 300.0),
    Case("1 clients", "clients_{n}", "chunks_per_s", "{n:,} clients working: no-op chunks/s", "{:,.0f}", ">= 25,000", ">=", 25_000),
    Case("1 clients", "clients_{n}", "p99_ms", "{n:,} clients working: p99 (ms)", "{:,.1f}", "< 200 ms", "<", 200.0),
    Case("1 clients", "clients_{n}", "paced_chunks_per_s", "{n:,} clients, 5,000 chunks/s offered: chunks/s", "{:,.0f}"),
    Case("1 clients", "clients_{n}", "paced_p99_ms", "{n:,} clients, 5,000 chunks/s offered: p99 (ms)", "{:,.1f}"),
    Case("2 consoles", "consoles_{n}", "chunks_per_s_unloaded", "{n:,} nodes, no consoles: chunks/s", "{:,.0f}"),
    Case("2 consoles", "consoles_{n}", "chunks_per_s", "{n:,} nodes, poller + {s} streams: chunks/s", "{:,.0f}"),
    Case("2 consoles", "consoles_{n}", "rate_ratio", "{n:,} nodes: chunks/s loaded / unloaded", "{:.2f}", ">= 0.90", ">=", 0.9),
    Case("2 consoles", "consoles_{n}", "p99_ms_unloaded", "{n:,} nodes, no consoles: p99 (ms)", "{:,.1f}"),
    Case("2 consoles", "consoles_{n}", "p99_ms", "{n:,} nodes, poller + {s} streams: p99 (ms)", "{:,.1f}"),
    Case("2 consoles", "consoles_{n}", "p99_ratio", "{n:,} nodes: p99 loaded / unloaded", "{:.2f}", "<= 1.2", "<=", 1.2),
    Case("3 constrained", "constrained_{n}", "chunks_per_s_unconstrained", "{n:,} clients, unconstrained: chunks/s", "{:,.0f}"),
    Case("3 constrained", "constrained_{n}", "chunks_per_s", "{n:,} clients, constrained: chunks/s", "{:,.0f}"),
    Case("3 constrained", "constrained_{n}", "rate_ratio", "{n:,} clients: constrained / unconstrained", "{:.2f}", ">= 0.80", ">=", 0.8),
    Case("3 constrained", "constrained_{n}", "p99_ms", "{n:,} clients, constrained: p99 (ms)", "{:,.1f}", "< 100 ms", "<", 100.0),
    Case("3 constrained", "constrained_{n}", "why_p99_ms", "{n:,} clients: why on a queued job, p99 (ms)", "{:,.1f}", "< 10 ms", "<", 10.0),
    Case("3 constrained", "constrained_{n}", "why_max_ms", "{n:,} clients: why on a queued job, max (ms)", "{:,.1f}"),
    Case("4 hot path", "reference", "product_ahead0_per_s", "corral, 1 chunk per node: chunks/s", "{:,.0f}"),
    Case("4 hot path", "reference", "reference_ahead0_per_s", "reference, 1 chunk per node: chunks/s", "{:,.0f}"),
    Case("4 hot path", "reference", "ratio_ahead0", "corral / reference, 1 chunk per node", "{:.2f}", ">= 0.80", ">=", 0.8),
    Case("4 hot path", "reference", "product_ahead4_per_s", "corral, 4 ahead: chunks/s", "{:,.0f}"),
    Case("4 hot path", "reference", "reference_ahead4_per_s", "reference, 4 ahead: chunks/s", "{:,.0f}"),
    Case("4 hot path", "reference", "ratio_ahead4", "corral / reference, 4 ahead", "{:.2f}", ">= 0.80", ">=", 0.8),
    Case("5 hook call", "hook_jobget", "median_us", "jobGet from a hook, median round trip (us)", "{:,.0f}", "<= 100 us", "<=", 100.0),
    Case("5 hook call", "hook_call", "median_us", "one hook call from the dispatcher, median (us)", "{:,.0f}"),
    Case("6 processes", "spawn_raw", "stdlib_per_s", "raw /bin/true spawns/s, stdlib asyncio", "{:,.0f}"),
    Case("6 processes", "spawn_raw", "uvloop_per_s", "raw /bin/true spawns/s, uvloop", "{:,.0f}"),
    Case("6 processes", "spawn_raw", "posix_spawn_per_s", "raw /bin/true spawns/s, os.posix_spawn", "{:,.0f}"),
    Case("6 processes", "real_clients", "chunks_per_s", "/bin/true chunks/s, 10 render clients", "{:,.0f}"),
    Case("6 processes", "real_clients", "ratio_to_spawn", "  as a share of the fastest raw rate", "{:.0%}", ">= 60 %", ">=", 0.6),
)  # fmt: skip


def _met(value: float, op: str, limit: float) -> bool:
    if op == ">=":
        return value >= limit
    if op == "<=":
        return value <= limit
    return value < limit


def _sizes(figures: dict[str, Any], pattern: str) -> list[int]:
    if "{n}" not in pattern:
        return [0]
    shape = re.compile("^" + re.escape(pattern).replace(r"\{n\}", r"(\d+)") + "$")
    found = [int(match.group(1)) for name in figures if (match := shape.match(name))]
    return sorted(found)


def judge(figures: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per case row and size measured: value, target, met (None: no target)."""
    rows = []
    for case in CASES:
        for size in _sizes(figures, case.figure):
            name = case.figure.format(n=size)
            figure = figures.get(name)
            if figure is None:
                continue
            value = median(figure, case.metric)
            subscribers = figure.get("params", {}).get("subscribers", "")
            entry: dict[str, Any] = {
                "case": case.case,
                "figure": name,
                "metric": case.metric,
                "label": case.label.format(n=size, s=subscribers),
                "value": None if value is None or math.isnan(value) else round(value, 4),
                "target": case.target,
                "status": figure.get("status", ""),
                "other_cpu_pct": (figure.get("other_cpu_pct") or {}).get("max"),
                "met": None,
            }
            if case.target:
                entry["met"] = entry["value"] is not None and _met(value, case.op, case.limit)
            entry["shown"] = _shown(case.fmt, entry)
            rows.append(entry)
    return rows


def _shown(fmt: str, entry: dict[str, Any]) -> str:
    if entry["value"] is None:
        status = entry["status"]  # "failed: why" (the why is in the JSON)
        return status.split(":")[0] if status and status != "measured" else "-"
    return fmt.format(entry["value"])


def table(rows: list[dict[str, Any]]) -> str:
    """The cases as one Markdown table: case, figure, value, target, met."""
    header = ["case", "figure", "value", "target", "met"]
    body = [
        [row["case"], row["label"], row["shown"], row["target"],
         "" if row["met"] is None else ("yes" if row["met"] else "no")]
        for row in rows
        if not row["status"].startswith("skipped")
    ]  # fmt: skip
    return markdown_table(header, body)
