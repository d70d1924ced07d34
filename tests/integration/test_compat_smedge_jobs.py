"""`import smedge`, the job side, against a live dispatcher with a render client: every
example of the seed's "Submitting and Updating Jobs", "Query for Jobs" and "Encode
Rendered Frames into Movies" run as written (SEED-NOTES' corrections: the standard
imports added, `from smedge import *`), in the system's python3 with only the compat
folder on PYTHONPATH; then each other job call, bad input and the event commands."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration import smedgekit
from tests.integration.farm import ApiError, Farm, wait_for

# The IDs the seed's examples name literally: jobs with these UUIDs exist before they run.
SEED_JOB = "a29f0cb2-11e1-42a9-9b72-6c5f5be5f671"
SEED_BATCH = [
    "178b043e-4a28-4235-acbc-642c7480c360",
    "12f1146d-a16e-4a02-ba69-577b22a94757",
    "b5f40f8b-795a-43ef-bf12-aca6b6d7289f",
]


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    root = tmp_path_factory.mktemp("smedge")
    farm = Farm(root / "data").start()
    try:
        farm.client("render-a")
        farm.wait_nodes(1)
        yield farm
    finally:
        farm.close()


def views(farm: Farm) -> dict[str, dict[str, Any]]:
    """Every job on the farm by UUID."""
    return {job["uuid"]: job for job in farm.request("GET", "/api/v1/jobs/")}


def job(farm: Farm, key: str) -> dict[str, Any]:
    found: dict[str, Any] = farm.request("GET", f"/api/v1/jobs/{key}")
    return found


def seed_jobs(farm: Farm) -> None:
    """The jobs whose IDs the seed's update and query examples name, submitted paused."""
    for key, template, title in [(SEED_JOB, "maya", "Test Job")] + [
        (key, "maya", f"seed batch {n}") for n, key in enumerate(SEED_BATCH)
    ]:
        if any(view["uuid"] == key for view in farm.request("GET", "/api/v1/jobs/")):
            continue
        farm.request(
            "POST",
            "/api/v1/jobs/?unique_titles=false",
            {"title": title, "template": template, "frames": "1001-1050", "uuid": key,
             "data": {"job_file": "/path/to/the/scene.mb"}, "paused": True},
        )  # fmt: skip


# -- Submitting and Updating Jobs --------------------------------------------------------
def test_submit_a_simple_maya_job(farm: Farm) -> None:
    result = smedgekit.answer(
        farm,
        """
        job = {
            "Name": "My Job",
            "Type": "Maya",
            "Scene": "/path/to/the/scene.mb",
            "Range": "1001-1250",
        }
        result = submit_jobs(job)
        print(result)
        assert isinstance(result, list) and all(isinstance(item, UUID) for item in result)
        print(json.dumps([str(item) for item in result]))
        """,
    )
    assert len(result) == 1
    made = job(farm, result[0])
    assert made["title"] == "My Job" and made["template"] == "maya"
    assert (made["start"], made["end"]) == (1001.0, 1250.0)
    assert made["data"]["job_file"] == "/path/to/the/scene.mb"
    assert made["data"]["smedge"]["params"]["Type"] == "Maya"


def test_submit_two_layers_and_a_comp_waiting_frame_by_frame(farm: Farm) -> None:
    result = smedgekit.answer(
        farm,
        """
        maya_job = {
            "Type": "Maya",
            "Scene": "/path/to/the/scene.mb",
            "Range": "1001-1250",
            "Priority": 50,
        }
        render_jobs = []
        layers = ["layer1", "layer2"]
        for layer in layers:
            layer_job = maya_job.copy()
            layer_job["Name"] = f"Render - {layer}"
            layer_job["ID"] = uuid4()
            layer_job["Extra"] = f"-rl {layer}"
            render_jobs.append(layer_job)
        nuke_job = {
            "Name": "Comp layers",
            "Type": "Nuke",
            "Scene": "/path/to/the/comp_script.nk",
            "Range": "1001-1250",
            "Priority": 55,
            "WaitForJobID": [job["ID"] for job in render_jobs],
            "WaitForWholeJob": 0,
        }
        render_jobs.append(nuke_job)
        result = submit_jobs(render_jobs)
        print(result)
        assert [job["ID"] for job in render_jobs[:2]] == result[:2]
        print(json.dumps([str(item) for item in result]))
        """,
    )
    assert len(result) == 3
    layer1, layer2, comp = (job(farm, key) for key in result)
    assert [layer1["title"], layer2["title"]] == ["Render - layer1", "Render - layer2"]
    assert layer1["data"]["additional_flags"] == "-rl layer1"
    assert layer2["data"]["additional_flags"] == "-rl layer2"
    assert (layer1["priority"], comp["priority"]) == (50, 55)
    assert comp["template"] == "nuke" and comp["data"]["job_file"].endswith("comp_script.nk")
    assert sorted(dep["job"] for dep in comp["depends_on"]) == sorted(
        [layer1["id"], layer2["id"]]
    )
    assert comp["per_frame"] is True


def test_submit_into_a_named_pool(farm: Farm) -> None:
    code = """
        job = {
            "Name": "Test Job",
            "Type": "Maya",
            "Scene": "/path/to/the/scene.mb",
            "Range": "1001-1050",
        }
        all_pools = get_pools()
        for pool in all_pools:
            if job["Type"] in pool.name:
                job["Pool"] = pool
                break
        result = submit_jobs(job)
        print(result)
        print(json.dumps([str(item) for item in result]))
        """
    has_pools = smedgekit.run(farm, "import smedge; print(hasattr(smedge, 'get_pools'))")
    if has_pools.stdout.strip() != "True":
        pytest.skip("get_pools comes with the engines and pools part of import smedge")
    farm.request("POST", "/api/v1/pools/", {"name": "Maya renders"})
    made = job(farm, smedgekit.answer(farm, code)[0])
    assert made["pools"] == ["Maya renders"]


def test_change_a_jobs_priority(farm: Farm) -> None:
    seed_jobs(farm)
    smedgekit.run(
        farm,
        """
        job = update_jobs("a29f0cb2-11e1-42a9-9b72-6c5f5be5f671", "Priority", 100)
        """,
    )
    assert job(farm, SEED_JOB)["priority"] == 100


def test_pause_several_jobs_at_once(farm: Farm) -> None:
    seed_jobs(farm)
    for key in SEED_BATCH:
        farm.request("POST", f"/api/v1/jobs/{key}/actions/resume")
    smedgekit.run(
        farm,
        """
        jobs = [UUID('178b043e-4a28-4235-acbc-642c7480c360'),
        UUID('12f1146d-a16e-4a02-ba69-577b22a94757'),
        UUID('b5f40f8b-795a-43ef-bf12-aca6b6d7289f')]
        update_jobs(jobs, "Status", -1)
        """,
    )
    assert all(job(farm, key)["paused"] for key in SEED_BATCH)
    smedgekit.run(farm, f"update_jobs({SEED_BATCH!r}, 'Status', 0)")
    assert not any(job(farm, key)["paused"] for key in SEED_BATCH)
    smedgekit.run(farm, f"update_jobs({SEED_BATCH!r}, 'Status', -1)")
