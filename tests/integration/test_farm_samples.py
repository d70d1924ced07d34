"""The statistics samples the web console's farm overview charts: busy nodes and the
queue's depth, read from a real farm with a render client running a chunk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.farm import Farm, wait_for


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[Farm]:
    running = Farm(tmp_path / "data", ["--statistics-interval-s", "0.2"]).start()
    try:
        yield running
    finally:
        running.close()


def latest(farm: Farm, after: float) -> dict[str, Any] | None:
    rows = farm.request("GET", f"/api/v1/statistics/?start={after}")
    return rows[-1] if rows else None


def test_samples_count_busy_nodes_and_queued_chunks(farm: Farm) -> None:
    farm.client("sampled01")
    farm.client("sampled02")
    farm.wait_nodes(2)
    # One node runs the sleeper's single chunk; the other stays idle (the held job is paused).
    sleeper = farm.submit(title="sleeper", frames="1-1", command=["sleep", "30"])
    held = farm.submit(title="held", frames="1-5", paused=True, command=["true"])
    farm.wait_state(sleeper["id"], "running")
    started = farm.request("GET", "/api/v1/statistics/bounds")["end"] or 0.0
    sample = wait_for(
        lambda: (row := latest(farm, started + 0.001)) and row["chunks_running"] == 1 and row,
        20,
        "a sample taken while the sleeper runs",
    )
    assert sample["nodes"] == 2 and sample["nodes_online"] == 2
    assert sample["nodes_busy"] == 1
    assert sample["chunks_queued"] == 5  # the paused job's chunks wait too

    farm.request("DELETE", f"/api/v1/jobs/{held['id']}")
    farm.request("POST", f"/api/v1/jobs/{sleeper['id']}/actions/pause")
    node = next(n for n in farm.nodes() if n["running"])
    farm.request("POST", f"/api/v1/nodes/{node['id']}/actions/kill")
    moment = farm.request("GET", "/api/v1/statistics/bounds")["end"]
    after = wait_for(
        lambda: (row := latest(farm, moment + 0.001)) and row["chunks_running"] == 0 and row,
        20,
        "a sample after the kill",
    )
    assert after["nodes_busy"] == 0
    assert after["chunks_queued"] == 1  # the sleeper's chunk, back in its paused job
