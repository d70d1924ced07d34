"""Resources end to end: what nodes report about renders, jobs that need memory, and a
render killed by the out-of-memory killer inside a real memory cgroup."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from renderclient.cgroups import CgroupError, MemoryCgroup
from tests.integration.farm import Farm, wait_for
from tests.integration.test_node_control import node

MIB = 1024 * 1024


def hog(megabytes: int, hold_s: float = 0.0) -> list[str]:
    """A render that touches `megabytes` of memory, then holds it for `hold_s`."""
    code = f"x = b'x' * ({megabytes} * 1024 * 1024); import time; time.sleep({hold_s})"
    return [sys.executable, "-c", code]


def test_nodes_report_each_renders_usage(farm: Farm) -> None:
    farm.client("alpha")
    farm.wait_nodes(1)
    job = farm.submit(title="hog", command=hog(64, hold_s=30))
    render = wait_for(
        lambda: [
            r
            for r in (node(farm, "alpha")["resources"] or {}).get("renders", [])
            if r["memory_bytes"] >= 64 * MIB
        ],
        15,
        "the render's memory in a heartbeat",
    )[0]
    assert render["ref"] == {"job": job["id"], "chunk": 0, "attempt": 1}
    assert Path(f"/proc/{render['pid']}").exists()
    hosts = farm.request("GET", "/api/v1/hosts/")
    assert hosts[0]["renders"] == 1
    farm.request("POST", "/api/v1/nodes/alpha/actions/kill")


def test_a_job_that_needs_more_memory_than_any_node_waits(farm: Farm) -> None:
    farm.client("alpha")
    farm.wait_nodes(1)
    wait_for(lambda: node(farm, "alpha")["resources"], 10, "resources")
    job = farm.submit(title="huge", memory_mb=64 * 1024 * 1024, command=["true"])
    time.sleep(0.5)
    assert farm.job(job["id"])["state"] == "queued"
    reasons = farm.request("GET", f"/api/v1/jobs/{job['id']}/why")["reasons"]
    assert any("MB of free memory" in reason for reason in reasons), reasons
    farm.request("PATCH", f"/api/v1/jobs/{job['id']}", {"memory_mb": 1})
    farm.wait_state(job["id"], "done", timeout_s=10)


def _memory_cgroups_or_skip() -> None:
    try:
        probe = MemoryCgroup.create("corral-test-probe", 64 * MIB)
    except CgroupError as exc:
        pytest.skip(f"cannot create a memory cgroup here: {exc}")
    probe.remove()


def test_out_of_memory_kill_is_recognised_and_retried_on_a_bigger_node(farm: Farm) -> None:
    _memory_cgroups_or_skip()
    farm.client("small", "--memory-limit-mb", "64")
    farm.wait_nodes(1)
    limit = wait_for(lambda: node(farm, "small")["resources"], 10, "resources")
    assert limit["memory_limit_bytes"] == 64 * MIB
    job = farm.submit(title="greedy", requeue=2, command=hog(160))
    chunk = wait_for(
        lambda: (c := farm.chunks(job["id"])[0])["failures"] == 1 and c, 20, "the OOM kill"
    )
    assert chunk["state"] == "queued"
    run = farm.request("GET", f"/api/v1/jobs/{job['id']}/tasks/{farm.task(job['id'], 0)}")["runs"][
        0
    ]
    assert run["state"] == "failed" and "out-of-memory" in run["error"], run
    time.sleep(0.5)  # the small node does not get it again
    assert farm.chunks(job["id"])[0]["attempts"] == 1
    reasons = farm.request("GET", f"/api/v1/jobs/{job['id']}/why")["reasons"]
    assert any("lack of memory" in reason for reason in reasons), reasons
    farm.client("big", "--memory-limit-mb", "512")
    farm.wait_state(job["id"], "done", timeout_s=20)
    runs = farm.request("GET", f"/api/v1/jobs/{job['id']}/tasks/{farm.task(job['id'], 0)}")["runs"]
    assert [(r["state"], r["node_id"]) for r in runs] == [
        ("failed", node(farm, "small")["id"]),
        ("done", node(farm, "big")["id"]),
    ]
