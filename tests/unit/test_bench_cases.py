"""The cases table: each case row judged against its target at every size measured,
and two runs side by side (benchmarks/cases.py, benchmarks/compare.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks import cases, compare


def _figure(**medians: float) -> dict[str, Any]:
    return {
        "status": "measured",
        "metrics": {name: {"samples": [value], "min": value, "median": value, "max": value}
                    for name, value in medians.items()},
    }  # fmt: skip


def test_cases_judge_every_size_against_its_target() -> None:
    figures = {
        "clients_1000": _figure(connect_s=0.5, chunks_per_s=30_000.0, p99_ms=50.0),
        "clients_10000": _figure(connect_s=6.4, chunks_per_s=22_000.0, p99_ms=274.0),
        "reference": {"status": "failed: the reference did not start", "metrics": {}},
    }
    rows = {(row["figure"], row["metric"]): row for row in cases.judge(figures)}
    assert rows[("clients_1000", "connect_s")]["met"] is True
    assert rows[("clients_10000", "connect_s")]["met"] is False
    assert rows[("clients_10000", "chunks_per_s")]["shown"] == "22,000"
    assert rows[("clients_10000", "p99_ms")]["met"] is False
    assert rows[("clients_10000", "p99_ms")]["label"] == "10,000 clients working: p99 (ms)"
    failed = rows[("reference", "ratio_ahead0")]
    assert failed["value"] is None and failed["met"] is False and failed["shown"] == "failed"
    assert ("consoles_100", "rate_ratio") not in rows  # not measured: no row
    text = cases.table(cases.judge(figures))
    assert text.splitlines()[0].startswith("| case")
    assert "| 10,000 clients: connect all (s)" in text and "| no " in text


def test_compare_puts_two_runs_side_by_side(tmp_path: Path) -> None:
    before = {"cases": cases.judge({"clients_10000": _figure(connect_s=6.4)})}
    after = {"cases": cases.judge({"clients_10000": _figure(connect_s=1.5)})}
    (tmp_path / "a.json").write_text(json.dumps(before))
    (tmp_path / "b.json").write_text(json.dumps(after))
    text = compare.table(compare.rows(tmp_path / "a.json"), compare.rows(tmp_path / "b.json"))
    line = next(line for line in text.splitlines() if "connect all" in line)
    cells = [cell.strip() for cell in line.strip("|").split("|")]
    assert cells[2:] == ["< 2 s", "6.40", "1.50", "yes"]
