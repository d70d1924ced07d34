"""The scale chart: no-op chunks/s and p99 against connected clients, from every
figure of a run that measured the dispatcher with N clients (matplotlib, the `bench`
extra; without it, no chart)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

log = logging.getLogger("benchmarks")

# (figure pattern, throughput metric, p99 metric, label, colour, marker)
SERIES = (
    (r"clients_(\d+)", "chunks_per_s", "p99_ms", "corral, no-op queue", "#1565c0", "o"),
    (r"consoles_(\d+)", "chunks_per_s_unloaded", "p99_ms_unloaded", "corral, 10,000 jobs", "#2e7d32", "s"),
    (r"consoles_(\d+)", "chunks_per_s", "p99_ms", "+ job list poller and event streams", "#c62828", "s"),
    (r"constrained_(\d+)", "chunks_per_s", "p99_ms", "constrained mix (pools, limits, licenses, failures)", "#6a1b9a", "^"),
)  # fmt: skip


def _median(figure: dict[str, Any], metric: str) -> float | None:
    found = figure.get("metrics", {}).get(metric)
    value = None if found is None else found.get("median")
    return None if value is None or value != value else float(value)


def points(figures: dict[str, Any]) -> list[tuple[str, str, str, list[tuple[int, float, float]]]]:
    """Each series' (clients, chunks/s, p99 ms) points, fewest clients first."""
    found = []
    for pattern, rate_metric, p99_metric, label, colour, marker in SERIES:
        shape = re.compile(f"^{pattern}$")
        series = []
        for name, figure in figures.items():
            match = shape.match(name)
            if not match:
                continue
            rate, p99 = _median(figure, rate_metric), _median(figure, p99_metric)
            if rate is not None and p99 is not None:
                series.append((int(match.group(1)), rate, p99))
        if series:
            found.append((label, colour, marker, sorted(series)))
    return found


def draw(result: dict[str, Any], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed (pip install -e '.[bench]'): no scale chart")
        return None
    series = points(result["figures"])
    if not series:
        return None
    fig, (rate_axis, p99_axis) = plt.subplots(1, 2, figsize=(12, 4.8))
    machine = result["machine"]
    fig.suptitle(
        f"Corral bench ({result['mode']}), no-op chunks against connected render clients: "
        f"{machine['cores']} cores shared with other work, Python {machine['python']}, "
        "synchronous=FULL",
        fontsize=9,
    )
    for label, colour, marker, found in series:
        clients = [point[0] for point in found]
        rate_axis.plot(clients, [p[1] for p in found], marker=marker, color=colour, label=label)
        p99_axis.plot(clients, [p[2] for p in found], marker=marker, color=colour, label=label)
    rate_axis.axhline(25_000, color="#9e9e9e", linestyle="--", linewidth=1)
    rate_axis.annotate("target 25,000/s at 10,000", (0.02, 0.02), xycoords="axes fraction",
                       fontsize=7, color="#616161")  # fmt: skip
    p99_axis.axhline(200, color="#9e9e9e", linestyle="--", linewidth=1)
    p99_axis.annotate("target p99 < 200 ms at 10,000", (0.02, 0.95), xycoords="axes fraction",
                      fontsize=7, color="#616161")  # fmt: skip
    for axis, title in ((rate_axis, "chunks/s (durable, acknowledged)"),
                        (p99_axis, "p99 ms, result sent to next assign")):  # fmt: skip
        axis.set_xscale("log")
        if axis is p99_axis:
            axis.set_yscale("log")
        axis.set_xlabel("connected simulated render clients")
        axis.set_title(title, fontsize=9)
        axis.grid(True, which="both", alpha=0.3)
    rate_axis.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
