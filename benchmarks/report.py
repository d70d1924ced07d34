"""The results: targets judged, ratios to the probes, the JSON file, the table, the chart."""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import cases
from benchmarks.runner import markdown_table, median

log = logging.getLogger("benchmarks")

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = 1


@dataclass(frozen=True)
class Target:
    key: str
    text: str
    figure: str
    metric: str
    op: str  # ">=", "<=", "<"
    value: float


TARGETS = (
    Target("noop_20k", ">= 20,000 no-op chunks/s, 1,000 clients", "noop_ahead0", "chunks_per_s", ">=", 20_000),
    Target("noop_p99_100ms", "p99 result to next assign < 100 ms, 1,000 clients", "noop_ahead0", "p99_ms", "<", 100),
    Target("noop_ahead4_40k", ">= 40,000 no-op chunks/s with assign_ahead 4", "noop_ahead4", "chunks_per_s", ">=", 40_000),
    Target("latency_flat", "p99 at 1,000,000 queued <= 1.5x p99 at 1,000", "latency_q1m", "p99_ms", "<=", 1.5),
    Target("memory_150mb", "<= 150 MB resident, 1,000,000 chunks / 10,000 jobs", "queue_1m", "rss_mb", "<=", 150),
    Target("restart_2s", "restart <= 2 s with 1,000,000 queued chunks", "queue_1m", "restart_s", "<=", 2.0),
    Target("real_clients_half_spawn", "/bin/true chunks >= 50 % of the fastest raw spawn rate", "real_clients", "ratio_to_spawn", ">=", 0.5),
    Target("hook_call_100us", "one hook call <= 100 us median", "hook_call", "median_us", "<=", 100),
    Target("hook_chunks_5k", ">= 5,000 chunks/s with a chunk-path hook", "hook_chunks", "chunks_per_s", ">=", 5_000),
    Target("listing_jobs_page_20ms", "100-job page p99 <= 20 ms, 10,000 jobs", "listing_jobs_page", "p99_ms", "<=", 20),
    Target("listing_chunks_page_20ms", "1,000-chunk page p99 <= 20 ms, 1,000,000-chunk job", "listing_chunks_page", "p99_ms", "<=", 20),
    Target("listing_poll_latency", "dispatch p99 while polling <= 1.2x unloaded", "listing_dispatch", "p99_ratio", "<=", 1.2),
)  # fmt: skip

# (figure prefix, metric, probe, probe metric, kind): "rate" divides the rates; "time"
# expresses a time in units of one probe operation (1 / probe rate).
PROBE_RATIOS = (
    ("noop", "chunks_per_s", "tcp_100conn", "round_trips_per_s", "rate"),
    ("noop", "chunks_per_s", "sqlite_1row", "commits_per_s", "rate"),
    ("noop", "p50_ms", "tcp_1conn", "round_trips_per_s", "time"),
    ("noop", "p99_ms", "sqlite_1row", "commits_per_s", "time"),
    ("latency", "p99_ms", "sqlite_1row", "commits_per_s", "time"),
    ("latency", "chunks_per_s", "tcp_100conn", "round_trips_per_s", "rate"),
    ("real_clients", "chunks_per_s", "spawn_1", "spawns_per_s", "rate"),
    ("real_clients", "chunks_per_s", "spawn_2", "spawns_per_s", "rate"),
    ("rest_submit", "jobs_per_s", "sqlite_1row", "commits_per_s", "rate"),
    ("rest_list", "p50_ms", "tcp_1conn", "round_trips_per_s", "time"),
    ("hook_call", "median_us", "tcp_1conn", "round_trips_per_s", "time"),
    ("hook_chunks", "chunks_per_s", "tcp_100conn", "round_trips_per_s", "rate"),
)

UNIT_S = {"p50_ms": 1e-3, "p99_ms": 1e-3, "median_us": 1e-6}


def _met(value: float, op: str, limit: float) -> bool:
    if op == ">=":
        return value >= limit
    if op == "<=":
        return value <= limit
    return value < limit


def judge(figures: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every target: the measured value, the limit and `target_met` (true/false)."""
    judged = {}
    for target in TARGETS:
        figure = figures.get(target.figure, {})
        value = median(figure, target.metric)
        entry: dict[str, Any] = {"target": target.text, "figure": target.figure,
                                 "metric": target.metric, "op": target.op, "limit": target.value}  # fmt: skip
        if target.key == "latency_flat":
            base = median(figures.get("latency_q1k", {}), "p99_ms")
            value = None if value is None or not base else value / base
            entry["metric"] = "p99_ms ratio latency_q1m / latency_q1k"
        if value is None:
            status = figure.get("status", "not measured")
            entry.update(value=None, measured=False, target_met=False, note=status)
        else:
            entry.update(value=round(value, 4), measured=True,
                         target_met=_met(value, target.op, target.value))  # fmt: skip
        judged[target.key] = entry
    return judged


def add_probe_ratios(figures: dict[str, dict[str, Any]], probes: dict[str, dict[str, Any]]) -> None:
    for name, figure in figures.items():
        ratios: dict[str, float | None] = {}
        for prefix, metric, probe, probe_metric, kind in PROBE_RATIOS:
            if not name.startswith(prefix):
                continue
            value = median(figure, metric)
            rate = median(probes.get(probe, {}), probe_metric)
            if value is None or not rate:
                continue
            if kind == "rate":
                ratios[f"{metric} / {probe}.{probe_metric}"] = round(value / rate, 4)
            else:
                per_op_s = 1.0 / rate
                ratios[f"{metric} in {probe} operations"] = round(
                    value * UNIT_S[metric] / per_op_s, 2
                )
        figure["ratio_to_probes"] = ratios


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _loop_version() -> str:
    try:
        import uvloop
    except ImportError:
        return "asyncio (uvloop not installed)"
    return f"uvloop {getattr(uvloop, '__version__', '?')}"


def _memory_total_bytes() -> int | None:
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def machine(status: dict[str, Any]) -> dict[str, Any]:
    from dispatcher.protocol import PROTOCOL_VERSION

    commit = _git("rev-parse", "HEAD")
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "cores": os.cpu_count(),
        "memory_bytes": _memory_total_bytes(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "sqlite": sqlite3.sqlite_version,
        "git_commit": commit,
        "git_dirty": bool(dirty) if dirty is not None else None,
        "event_loop": _loop_version(),
        "event_loop_note": "figures named *_stdlib ran the dispatcher with CORRAL_EVENT_LOOP=asyncio",
        "protocol_version": status.get("protocol", PROTOCOL_VERSION),
        "store_pragmas": status.get("store"),
        "durability": "full",
        "dispatcher_log_level": "warning",
    }


def build(
    *,
    mode: str,
    scale: dict[str, Any],
    probes: dict[str, dict[str, Any]],
    figures: dict[str, dict[str, Any]],
    status: dict[str, Any],
    started: float,
) -> dict[str, Any]:
    add_probe_ratios(figures, probes)
    others = [
        entry["cpu"]["other_pct"]
        for figure in [*probes.values(), *figures.values()]
        for entry in figure.get("runs", [])
    ]
    return {
        "schema": SCHEMA,
        "mode": mode,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "elapsed_s": round(time.time() - started, 1),
        "machine": machine(status),
        "scale": scale,
        "other_cpu_pct": {
            "max": max(others) if others else None,
            "mean": round(sum(others) / len(others), 1) if others else None,
            "rerun_above_pct": 20,
        },
        "probes": probes,
        "figures": figures,
        "targets": judge(figures),
        "cases": cases.judge(figures),
    }


# -- the table -----------------------------------------------------------------
ROWS = (
    ("TCP round trips/s, 1 connection", "probes", "tcp_1conn", "round_trips_per_s", "{:,.0f}"),
    ("TCP round trips/s, 100 connections", "probes", "tcp_100conn", "round_trips_per_s", "{:,.0f}"),
    ("SQLite commits/s, 1 row each (WAL, FULL)", "probes", "sqlite_1row", "commits_per_s", "{:,.0f}"),
    ("SQLite commits/s, 1,000 rows each", "probes", "sqlite_1000rows", "commits_per_s", "{:,.0f}"),
    ("/bin/true spawns/s, 1 at a time", "probes", "spawn_1", "spawns_per_s", "{:,.0f}"),
    ("/bin/true spawns/s, 2 at a time", "probes", "spawn_2", "spawns_per_s", "{:,.0f}"),
    ("No-op chunks/s, {clients:,} clients", "figures", "noop_ahead0", "chunks_per_s", "{:,.0f}"),
    ("  latency p50 ms", "figures", "noop_ahead0", "p50_ms", "{:,.1f}"),
    ("  latency p99 ms", "figures", "noop_ahead0", "p99_ms", "{:,.1f}"),
    ("No-op chunks/s, {clients:,} clients, assign_ahead 4", "figures", "noop_ahead4", "chunks_per_s", "{:,.0f}"),
    ("No-op chunks/s, {clients:,} clients, stdlib loop", "figures", "noop_ahead0_stdlib", "chunks_per_s", "{:,.0f}"),
    ("  latency p99 ms, stdlib loop", "figures", "noop_ahead0_stdlib", "p99_ms", "{:,.1f}"),
    ("No-op chunks/s, assign_ahead 4, stdlib", "figures", "noop_ahead4_stdlib", "chunks_per_s", "{:,.0f}"),
    ("/bin/true chunks/s, {real_clients} render clients", "figures", "real_clients", "chunks_per_s", "{:,.0f}"),
    ("  as a share of the fastest raw spawns/s", "figures", "real_clients", "ratio_to_spawn", "{:.0%}"),
    ("Latency p50 ms, {q1k:,} queued", "figures", "latency_q1k", "p50_ms", "{:,.1f}"),
    ("Latency p99 ms, {q1k:,} queued", "figures", "latency_q1k", "p99_ms", "{:,.1f}"),
    ("Latency p99 ms, {q100k:,} queued", "figures", "latency_q100k", "p99_ms", "{:,.1f}"),
    ("Latency p50 ms, {q1m:,} queued", "figures", "latency_q1m", "p50_ms", "{:,.1f}"),
    ("Latency p99 ms, {q1m:,} queued", "figures", "latency_q1m", "p99_ms", "{:,.1f}"),
    ("Latency p99 ms, {q1m:,} queued, stdlib", "figures", "latency_q1m_stdlib", "p99_ms", "{:,.1f}"),
    ("Resident MB, {big_chunks:,} queued chunks", "figures", "queue_1m", "rss_mb", "{:,.0f}"),
    ("Restart s, {big_chunks:,} queued chunks", "figures", "queue_1m", "restart_s", "{:,.2f}"),
    ("No-op chunks/s, {clients:,} clients, on PostgreSQL", "figures", "noop_postgres", "chunks_per_s", "{:,.0f}"),
    ("  latency p99 ms, on PostgreSQL", "figures", "noop_postgres", "p99_ms", "{:,.1f}"),
    ("Restart s, {big_chunks:,} queued chunks, on PostgreSQL", "figures", "restart_postgres", "restart_s", "{:,.2f}"),
    ("REST submits/s (100-chunk jobs)", "figures", "rest_submit", "jobs_per_s", "{:,.0f}"),
    ("GET /api/v1/jobs/ p50 ms, {rest_jobs:,} jobs", "figures", "rest_list", "p50_ms", "{:,.0f}"),
    ("GET /api/v1/jobs/ p99 ms, {rest_jobs:,} jobs", "figures", "rest_list", "p99_ms", "{:,.0f}"),
    ("Hook call median us", "figures", "hook_call", "median_us", "{:,.0f}"),
    ("Chunks/s with a chunk-path hook", "figures", "hook_chunks", "chunks_per_s", "{:,.0f}"),
    ("100-job page p99 ms, {rest_jobs:,} jobs", "figures", "listing_jobs_page", "p99_ms", "{:,.1f}"),
    ("1,000-chunk page p99 ms, {listing_chunks:,}-chunk job", "figures", "listing_chunks_page", "p99_ms", "{:,.1f}"),
    ("Dispatch p99 ms, no listing", "figures", "listing_dispatch", "p99_ms_unloaded", "{:,.1f}"),
    ("Dispatch p99 ms, job list polled every 100 ms", "figures", "listing_dispatch", "p99_ms_polled", "{:,.1f}"),
    ("  polled / unloaded", "figures", "listing_dispatch", "p99_ratio", "{:.2f}x"),
)  # fmt: skip

ROW_TARGETS = {
    ("noop_ahead0", "chunks_per_s"): "noop_20k",
    ("noop_ahead0", "p99_ms"): "noop_p99_100ms",
    ("noop_ahead4", "chunks_per_s"): "noop_ahead4_40k",
    ("latency_q1m", "p99_ms"): "latency_flat",
    ("queue_1m", "rss_mb"): "memory_150mb",
    ("queue_1m", "restart_s"): "restart_2s",
    ("real_clients", "ratio_to_spawn"): "real_clients_half_spawn",
    ("hook_call", "median_us"): "hook_call_100us",
    ("hook_chunks", "chunks_per_s"): "hook_chunks_5k",
    ("listing_jobs_page", "p99_ms"): "listing_jobs_page_20ms",
    ("listing_chunks_page", "p99_ms"): "listing_chunks_page_20ms",
    ("listing_dispatch", "p99_ratio"): "listing_poll_latency",
}


def _fmt(pattern: str, value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return pattern.format(value)


def _sizes(scale: dict[str, Any]) -> dict[str, Any]:
    sizes = dict(scale)
    sizes.setdefault("q100k", 100_000)
    sizes["big_chunks"] = scale["big_jobs"] * scale["chunks_per_job"]
    sizes.setdefault("listing_chunks", 1_000_000)
    for key, queued in scale["depth_queued"]:
        sizes[key] = queued
    for key, queued in (("q1k", 1_000), ("q1m", 1_000_000)):
        sizes.setdefault(key, queued)
    return sizes


def table_rows(result: dict[str, Any]) -> list[list[str]]:
    rows = []
    sizes = _sizes(result["scale"])
    for template, section, name, metric, pattern in ROWS:
        label = template.format(**sizes)
        figure = result[section].get(name)
        if figure is None:
            continue
        found = figure.get("metrics", {}).get(metric)
        target_key = ROW_TARGETS.get((name, metric))
        target = result["targets"].get(target_key) if target_key else None
        if found is None:
            status = figure.get("status", "not measured")
            if status.startswith("skipped"):
                continue
            rows.append(
                [label, status, "", target["target"] if target else "", "no" if target else ""]
            )
            continue
        spread = f"{_fmt(pattern, found['min'])} - {_fmt(pattern, found['max'])}"
        met = ""
        limit = ""
        if target is not None:
            limit = target["target"]
            if target_key == "latency_flat" and target["value"] is not None:
                limit += f" (ratio {target['value']:.2f})"
            met = "yes" if target["target_met"] else "no"
        rows.append([label, _fmt(pattern, found["median"]), spread, limit, met])
    return rows


def table(result: dict[str, Any]) -> str:
    """The headline table as Markdown (median of the runs, min - max)."""
    header = ["figure", "median", "min - max", "target", "met"]
    rows = table_rows(result)
    return markdown_table(header, rows)


# -- the stores side by side ----------------------------------------------------
# (label, SQLite's figure, PostgreSQL's figure, metric, format): the same measurement
# with the farm's state in SQLite and in PostgreSQL.
STORE_ROWS = (
    ("End-to-end no-op chunks/s, {clients:,} clients", "noop_ahead0", "noop_postgres", "chunks_per_s", "{:,.0f}"),
    ("  latency p99 ms", "noop_ahead0", "noop_postgres", "p99_ms", "{:,.1f}"),
    ("Restart s, {big_chunks:,} queued chunks", "queue_1m", "restart_postgres", "restart_s", "{:,.2f}"),
)  # fmt: skip


def _median_or_status(
    figure: dict[str, Any] | None, metric: str, pattern: str
) -> tuple[str, float | None]:
    if figure is None:
        return "not measured", None
    found = figure.get("metrics", {}).get(metric)
    if found is None:
        return str(figure.get("status", "not measured")), None
    return _fmt(pattern, found["median"]), found["median"]


def stores_table(result: dict[str, Any]) -> str:
    """SQLite's and PostgreSQL's end-to-end chunk rate and restart time side by side, as
    Markdown (medians; a figure not measured shows why)."""
    sizes = _sizes(result["scale"])
    header = ["figure", "SQLite", "PostgreSQL", "PostgreSQL / SQLite"]
    rows = []
    for template, sqlite_name, postgres_name, metric, pattern in STORE_ROWS:
        figures = result["figures"]
        sqlite_text, sqlite_value = _median_or_status(figures.get(sqlite_name), metric, pattern)
        postgres_text, postgres_value = _median_or_status(
            figures.get(postgres_name), metric, pattern
        )
        ratio = ""
        if sqlite_value and postgres_value is not None:
            ratio = f"{postgres_value / sqlite_value:.2f}x"
        rows.append([template.format(**sizes), sqlite_text, postgres_text, ratio])
    return markdown_table(header, rows)


def write(result: dict[str, Any], out_dir: Path, chart: bool = True) -> tuple[Path, Path | None]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"bench-{result['mode']}"
    png: Path | None = None
    if chart:
        from benchmarks import scale_chart
        from benchmarks.chart import draw

        png = draw(result, out_dir / f"{stem}.png")
        scaled = scale_chart.draw(result, out_dir / f"{stem}-scale.png")
        result["scale_chart"] = scaled.name if scaled is not None else None
    result["chart"] = png.name if png is not None else None
    json_path = out_dir / f"{stem}.json"
    json_path.write_text(json.dumps(result, indent=1, sort_keys=False) + "\n")
    (out_dir / f"{stem}.md").write_text(
        f"# {stem}\n\n## Cases\n\n{cases.table(result['cases'])}\n\n"
        f"## Every figure\n\n{table(result)}\n"
    )
    return json_path, png
