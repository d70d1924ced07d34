"""`make bench` at a tiny scale (20 simulated clients, a few hundred chunks, one run), so
the harness cannot rot: every figure is measured and the JSON has every key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBES = {"tcp_1conn", "tcp_100conn", "sqlite_1row", "sqlite_1000rows", "spawn_1", "spawn_2"}
FIGURES = {
    "noop_ahead0", "noop_ahead4", "noop_ahead0_stdlib", "noop_ahead4_stdlib", "real_clients",
    "latency_q1k", "latency_q100k", "latency_q1m", "latency_q1m_stdlib", "queue_1m",
    "rest_submit", "rest_list", "hook_call", "hook_chunks",
    "listing_jobs_page", "listing_chunks_page", "listing_dispatch",
    "web_jobs_first_table", "web_jobs_live_updates", "web_nodes_table",
    "clients_20", "consoles_2", "constrained_2", "reference", "spawn_raw", "hook_jobget",
}  # fmt: skip
# Every case row the cases table holds at the smoke sizes (scale/case, metric).
CASE_METRICS = {
    ("clients_20", "connect_s"), ("clients_20", "idle_cpu_pct"), ("clients_20", "rss_idle_mb"),
    ("clients_20", "rss_load_mb"), ("clients_20", "chunks_per_s"), ("clients_20", "p99_ms"),
    ("clients_20", "paced_chunks_per_s"), ("clients_20", "paced_p99_ms"),
    ("consoles_2", "rate_ratio"), ("consoles_2", "p99_ratio"), ("constrained_2", "rate_ratio"),
    ("constrained_2", "why_p99_ms"), ("reference", "ratio_ahead0"), ("reference", "ratio_ahead4"),
    ("hook_jobget", "median_us"), ("spawn_raw", "posix_spawn_per_s"),
    ("real_clients", "ratio_to_spawn"),
}  # fmt: skip
SKIPPED_IN_SMOKE = {
    "noop_ahead0_stdlib",
    "noop_ahead4_stdlib",
    "latency_q100k",
    "latency_q1m_stdlib",
    "web_jobs_first_table",
    "web_jobs_live_updates",
    "web_nodes_table",
}
TARGETS = {
    "noop_20k", "noop_p99_100ms", "noop_ahead4_40k", "latency_flat", "memory_150mb",
    "restart_2s", "real_clients_half_spawn", "hook_call_100us", "hook_chunks_5k",
    "listing_jobs_page_20ms", "listing_chunks_page_20ms", "listing_poll_latency",
}  # fmt: skip
MACHINE = {
    "cores", "python", "sqlite", "git_commit", "event_loop", "protocol_version",
    "store_pragmas", "durability",
}  # fmt: skip


def _check_measured(name: str, figure: dict[str, Any], *, probe: bool = False) -> None:
    assert figure["status"] == "measured", f"{name}: {figure['status']}"
    assert figure["metrics"], name
    for metric, summary in figure["metrics"].items():
        assert set(summary) == {"samples", "min", "median", "max"}, (name, metric)
        assert len(summary["samples"]) == 1, (name, metric)
    for run in figure["runs"]:
        assert {"metrics", "raw", "cpu", "tries"} <= set(run), name
        assert "other_pct" in run["cpu"], name
    assert probe or "ratio_to_probes" in figure, name


@pytest.mark.timeout(420)
def test_bench_harness_smoke(tmp_path: Path) -> None:
    out = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--out", str(out),
         "--scratch", str(tmp_path / "scratch")],
        cwd=ROOT, capture_output=True, text=True, timeout=410,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    assert "| case" in done.stdout  # the cases table was printed
    result = json.loads((out / "bench-smoke.json").read_text())

    assert {"schema", "mode", "created", "machine", "scale", "other_cpu_pct", "probes",
            "figures", "targets", "cases", "chart"} <= set(result)  # fmt: skip
    assert result["mode"] == "smoke"
    assert set(result["machine"]) >= MACHINE
    pragmas = result["machine"]["store_pragmas"]
    assert pragmas["journal_mode"] == "wal" and pragmas["synchronous"] == 2  # FULL

    assert set(result["probes"]) == PROBES
    for name, figure in result["probes"].items():
        _check_measured(name, figure, probe=True)
    assert set(result["figures"]) == FIGURES
    for name, figure in result["figures"].items():
        if name in SKIPPED_IN_SMOKE:
            assert figure["status"].startswith("skipped"), name
        elif figure["status"].startswith("not measured"):
            assert name.startswith("hook_"), f"{name}: {figure['status']}"
        else:
            _check_measured(name, figure)
    assert set(result["targets"]) == TARGETS
    for key, target in result["targets"].items():
        assert isinstance(target["target_met"], bool), key
        assert {"target", "value", "limit", "measured"} <= set(target), key
    judged = {(row["figure"], row["metric"]): row for row in result["cases"]}
    assert set(judged) >= CASE_METRICS
    for key in CASE_METRICS - {("constrained_2", "why_p99_ms")}:
        assert judged[key]["value"] is not None, key  # measured, whatever the machine
    assert all(row["met"] in (True, False, None) for row in judged.values())
    reference = result["figures"]["reference"]["metrics"]
    assert reference["reference_ahead0_per_s"]["median"] > 0
    assert (out / "bench-smoke.md").read_text().count("| case") == 1
    if result["chart"] is not None:
        assert (out / result["chart"]).stat().st_size > 0


def test_bench_only_refuses_a_figure_it_does_not_know() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--only", "listing_jobs_page,nope"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "'nope'" in done.stderr


@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_bench_postgres_figures_smoke(tmp_path: Path) -> None:
    """The PostgreSQL figures (make bench runs them beside SQLite's) at the tiny scale."""
    from tests.integration.postgres import pg_bin

    if pg_bin() is None:
        pytest.skip("PostgreSQL is not installed (Debian package postgresql)")
    out = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--no-chart", "--out", str(out),
         "--only", "noop_postgres,restart_postgres", "--scratch", str(tmp_path / "scratch")],
        cwd=ROOT, capture_output=True, text=True, timeout=290,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    assert "on PostgreSQL" in done.stdout
    figures = json.loads((out / "bench-smoke-only.json").read_text())["figures"]
    for name in ("noop_postgres", "restart_postgres"):
        _check_measured(name, figures[name], probe=True)
