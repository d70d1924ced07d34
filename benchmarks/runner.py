"""Runs a figure several times, each run measured again while other processes took too much
of the machine, and summarises every metric as raw samples with min / median / max."""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.cpu import OTHER_CPU_LIMIT
from benchmarks.farm import BenchError

log = logging.getLogger("benchmarks")

RERUN_PAUSE_S = 5.0
RERUN_BUDGET_S = 180.0  # reruns stop once they took this long in all (make bench < 10 min)
_rerun_spent_s = [0.0]


@dataclass(frozen=True)
class Scale:
    """How big and how long: `headline` (make bench), `full` (make bench-full), `smoke` (tests)."""

    name: str
    runs: int = 3
    clients: int = 1000
    warmup_s: float = 1.0
    window_s: float = 5.0
    chunks_per_job: int = 100
    throughput_jobs: int = 5_000  # the throughput figures' queue: 500,000 chunks
    depth_queued: tuple[tuple[str, int], ...] = (("q1k", 1_000), ("q1m", 1_000_000))
    big_jobs: int = 10_000  # memory, restart and REST listing: 1,000,000 chunks
    real_clients: int = 10
    real_jobs: int = 300  # 30,000 chunks: a window of real clients must not run dry
    rest_jobs: int = 10_000
    rest_window_s: float = 3.0
    rest_concurrency: int = 8
    list_samples: int = 20
    list_page_samples: int = 200  # the listing figures: pages timed per run
    listing_chunks: int = 1_000_000  # the chunks of the job whose chunk pages are timed
    restart_runs: int = 3
    probe_s: float = 1.5
    stdlib: tuple[str, ...] = ("noop_ahead0",)
    hook_calls: int = 2_000
    max_tries: int = 3  # per run: the first try and reruns while other processes were busy
    # The scale cases (benchmarks/scale_figures.py): the sizes, as fractions of the full
    # ones, and the runs of each (each run holds its own same-run comparison).
    growth: tuple[float, ...] = (0.1,)
    scale_runs: int = 1
    constrained_chunks: int = 400_000

    @property
    def big_chunks(self) -> int:
        return self.big_jobs * self.chunks_per_job


HEADLINE = Scale("headline")
FULL = Scale(
    "full",
    window_s=8.0,
    depth_queued=(("q1k", 1_000), ("q100k", 100_000), ("q1m", 1_000_000)),
    stdlib=("noop_ahead0", "noop_ahead4", "latency_q1m"),
    list_samples=40,
    growth=(0.1, 1.0),
)
SMOKE = Scale(
    "smoke",
    runs=1,
    clients=20,
    warmup_s=0.15,
    window_s=0.3,
    chunks_per_job=100,
    throughput_jobs=200,
    depth_queued=(("q1k", 100), ("q1m", 200)),
    big_jobs=2,
    real_clients=2,
    real_jobs=20,
    rest_jobs=2,
    rest_window_s=0.3,
    rest_concurrency=2,
    list_samples=3,
    list_page_samples=5,
    listing_chunks=3_000,
    restart_runs=1,
    probe_s=0.15,
    stdlib=(),
    hook_calls=50,
    max_tries=1,
    growth=(0.002,),
    constrained_chunks=2_000,
)
SCALES = {scale.name: scale for scale in (HEADLINE, FULL, SMOKE)}

RunFn = Callable[[int], tuple[dict[str, float], dict[str, Any], dict[str, float]]]
"""One run: (metrics, raw details, CPU window report)."""


def summary(values: list[float]) -> dict[str, Any]:
    clean = [value for value in values if value == value]  # drop NaN
    if not clean:
        return {"samples": values, "min": None, "median": None, "max": None}
    return {
        "samples": [round(value, 4) for value in values],
        "min": round(min(clean), 4),
        "median": round(statistics.median(clean), 4),
        "max": round(max(clean), 4),
    }


def not_measured(reason: str, unit: str = "", what: str = "") -> dict[str, Any]:
    return {"status": f"not measured: {reason}", "unit": unit, "what": what, "metrics": {}}


def measure(
    name: str,
    run: RunFn,
    *,
    runs: int,
    unit: str,
    what: str,
    params: dict[str, Any] | None = None,
    max_tries: int = 3,
) -> dict[str, Any]:
    """Run `run` `runs` times; a run whose window saw other processes use more than 20 % of
    the machine is measured again (up to `max_tries` in all), and the figure says so."""
    per_run: list[dict[str, Any]] = []
    metrics: dict[str, list[float]] = {}
    started = time.perf_counter()
    for index in range(runs):
        tries: list[dict[str, float]] = []
        for attempt in range(max_tries):
            began = time.perf_counter()
            try:
                values, raw, cpu = run(index)
            except BenchError as exc:
                log.error("%s: run %d failed: %s", name, index + 1, exc)
                return {
                    "status": f"failed: {exc}",
                    "unit": unit,
                    "what": what,
                    "params": params or {},
                    "metrics": {},
                }
            tries.append(cpu)
            busy = cpu.get("other_pct", 0.0) > 100 * OTHER_CPU_LIMIT
            if not busy or attempt == max_tries - 1 or _rerun_spent_s[0] > RERUN_BUDGET_S:
                break
            log.warning(
                "%s: run %d saw %.0f %% CPU used by other processes; measuring again",
                name, index + 1, cpu["other_pct"],
            )  # fmt: skip
            time.sleep(RERUN_PAUSE_S)
            _rerun_spent_s[0] += time.perf_counter() - began
        noisy = tries[-1].get("other_pct", 0.0) > 100 * OTHER_CPU_LIMIT
        per_run.append({"metrics": values, "raw": raw, "cpu": tries[-1], "tries": len(tries),
                        "rejected_cpu": tries[:-1], "noisy": noisy})  # fmt: skip
        for key, value in values.items():
            metrics.setdefault(key, []).append(float(value))
        shown = ", ".join(f"{key}={value:,.2f}" for key, value in values.items())
        log.info("%s run %d/%d: %s (other CPU %.0f %%)", name, index + 1, runs, shown,
                 tries[-1].get("other_pct", 0.0))  # fmt: skip
    return {
        "status": "measured",
        "unit": unit,
        "what": what,
        "params": params or {},
        "metrics": {key: summary(values) for key, values in metrics.items()},
        "other_cpu_pct": summary([entry["cpu"].get("other_pct", 0.0) for entry in per_run]),
        "reruns": sum(entry["tries"] - 1 for entry in per_run),
        "noisy_runs": sum(1 for entry in per_run if entry["noisy"]),
        "runs": per_run,
        "elapsed_s": round(time.perf_counter() - started, 2),
    }


def median(figure: dict[str, Any], metric: str) -> float | None:
    """A figure's median of one metric, or None when it was not measured."""
    found = figure.get("metrics", {}).get(metric)
    return None if found is None else found.get("median")


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """`rows` under `header` as a Markdown table, each column as wide as its widest cell."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(header)) + " |",
        "|" + "|".join("-" * (width + 2) for width in widths) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |")
    return "\n".join(lines)
