"""`make bench` prints SQLite's and PostgreSQL's end-to-end chunk rate and restart time
side by side (benchmarks/report.py stores_table)."""

from __future__ import annotations

from typing import Any

from benchmarks.report import stores_table

SCALE = {"clients": 200, "big_jobs": 100, "chunks_per_job": 600, "depth_queued": []}


def figure(**medians: float) -> dict[str, Any]:
    return {"status": "measured", "metrics": {k: {"median": v} for k, v in medians.items()}}


def test_both_stores_side_by_side_with_their_ratio() -> None:
    result = {
        "scale": SCALE,
        "figures": {
            "noop_ahead0": figure(chunks_per_s=5000.0, p99_ms=40.0),
            "noop_postgres": figure(chunks_per_s=4000.0, p99_ms=60.0),
            "queue_1m": figure(restart_s=2.0),
            "restart_postgres": figure(restart_s=2.5),
        },
    }
    lines = stores_table(result).splitlines()
    header = [cell.strip() for cell in lines[0].split("|")[1:5]]
    assert header == ["figure", "SQLite", "PostgreSQL", "PostgreSQL / SQLite"]
    rate = [cell.strip() for cell in lines[2].split("|")[1:5]]
    assert rate == ["End-to-end no-op chunks/s, 200 clients", "5,000", "4,000", "0.80x"]
    restart = [cell.strip() for cell in lines[4].split("|")[1:5]]
    assert restart == ["Restart s, 60,000 queued chunks", "2.00", "2.50", "1.25x"]


def test_a_store_not_measured_says_why() -> None:
    result = {
        "scale": SCALE,
        "figures": {
            "noop_ahead0": figure(chunks_per_s=5000.0, p99_ms=40.0),
            "noop_postgres": {"status": "skipped: no PostgreSQL server: initdb missing"},
        },
    }
    text = stores_table(result)
    assert "skipped: no PostgreSQL server: initdb missing" in text
    assert "not measured" in text  # the restarts: neither figure ran
