"""The PNG chart of a run (matplotlib, the `bench` extra); absent matplotlib, no chart."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger("benchmarks")

GREEN, RED, GREY, BLUE = "#2e7d32", "#c62828", "#9e9e9e", "#1565c0"


def _metric(section: dict[str, Any], name: str, metric: str) -> dict[str, Any] | None:
    found = section.get(name, {}).get("metrics", {}).get(metric)
    return found if found and found.get("median") is not None else None


def _bars(axis: Any, items: list[tuple[str, dict[str, Any] | None]], color: str) -> None:
    shown = [(label, found) for label, found in items if found is not None]
    if not shown:
        axis.text(0.5, 0.5, "not measured", ha="center", va="center", transform=axis.transAxes)
        return
    labels = [label for label, _ in shown]
    medians = [found["median"] for _, found in shown]
    low = [found["median"] - found["min"] for _, found in shown]
    high = [found["max"] - found["median"] for _, found in shown]
    positions = range(len(shown))
    axis.bar(positions, medians, color=color, yerr=[low, high], capsize=3)
    axis.set_xticks(list(positions), labels, rotation=30, ha="right", fontsize=8)
    for position, value in zip(positions, medians, strict=True):
        axis.annotate(f"{value:,.0f}" if value >= 10 else f"{value:,.1f}", (position, value),
                      ha="center", va="bottom", fontsize=7)  # fmt: skip


def draw(result: dict[str, Any], path: Path) -> Path | None:
    """Four panels: throughput, latency, the probes, and every target as a share of its limit."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed (pip install -e '.[bench]'): no chart")
        return None
    figures, probes = result["figures"], result["probes"]
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    machine = result["machine"]
    fig.suptitle(
        f"Corral bench ({result['mode']}): {machine['cores']} cores, Python {machine['python']}, "
        f"SQLite {machine['sqlite']}, {machine['event_loop']}, synchronous=FULL; "
        "median of runs, bars min-max",
        fontsize=9,
    )

    axis = axes[0][0]
    _bars(axis, [
        ("1,000 clients", _metric(figures, "noop_ahead0", "chunks_per_s")),
        ("ahead 4", _metric(figures, "noop_ahead4", "chunks_per_s")),
        ("stdlib loop", _metric(figures, "noop_ahead0_stdlib", "chunks_per_s")),
        ("ahead 4 stdlib", _metric(figures, "noop_ahead4_stdlib", "chunks_per_s")),
        ("10 real clients\n(/bin/true)", _metric(figures, "real_clients", "chunks_per_s")),
    ], BLUE)  # fmt: skip
    axis.axhline(20_000, color=GREY, linestyle="--", linewidth=1)
    axis.axhline(40_000, color=GREY, linestyle=":", linewidth=1)
    axis.set_yscale("log")
    axis.set_title("chunks/s (targets 20k, 40k with ahead 4)", fontsize=9)

    axis = axes[0][1]
    items = [
        ("p50 1,000 clients", _metric(figures, "noop_ahead0", "p50_ms")),
        ("p99 1,000 clients", _metric(figures, "noop_ahead0", "p99_ms")),
        ("p99 1k queued", _metric(figures, "latency_q1k", "p99_ms")),
        ("p99 100k queued", _metric(figures, "latency_q100k", "p99_ms")),
        ("p99 1M queued", _metric(figures, "latency_q1m", "p99_ms")),
    ]
    _bars(axis, items, BLUE)
    axis.axhline(100, color=GREY, linestyle="--", linewidth=1)
    axis.set_title("result to next assign, ms (target p99 < 100)", fontsize=9)

    axis = axes[1][0]
    _bars(axis, [
        ("TCP rt/s 1 conn", _metric(probes, "tcp_1conn", "round_trips_per_s")),
        ("TCP rt/s 100 conn", _metric(probes, "tcp_100conn", "round_trips_per_s")),
        ("SQLite commits/s 1 row", _metric(probes, "sqlite_1row", "commits_per_s")),
        ("commits/s 1,000 rows", _metric(probes, "sqlite_1000rows", "commits_per_s")),
        ("spawns/s 1", _metric(probes, "spawn_1", "spawns_per_s")),
        ("spawns/s 2", _metric(probes, "spawn_2", "spawns_per_s")),
    ], GREY)  # fmt: skip
    axis.set_yscale("log")
    axis.set_title("the machine's own limits (probes)", fontsize=9)

    axis = axes[1][1]
    labels, shares, colors = [], [], []
    for key, target in result["targets"].items():
        value = target.get("value")
        labels.append(key)
        if value is None:
            shares.append(0.0)
            colors.append(GREY)
            continue
        # 1.0 means exactly on the limit; above 1.0 is better for every target.
        share = (
            value / target["limit"] if target["op"] == ">=" else target["limit"] / max(value, 1e-9)
        )
        shares.append(min(share, 3.0))
        colors.append(GREEN if target["target_met"] else RED)
    axis.barh(range(len(labels)), shares, color=colors)
    axis.set_yticks(range(len(labels)), labels, fontsize=8)
    axis.axvline(1.0, color="black", linewidth=1)
    axis.invert_yaxis()
    axis.set_title("targets: share of the limit (>= 1 met; grey: not measured)", fontsize=9)

    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
