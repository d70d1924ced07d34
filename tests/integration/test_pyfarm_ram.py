"""PyFarm's `ram_warning`, `ram_max` and `hidden` with their effects: a real dispatcher,
a real render client and a real child process that takes memory; the hidden filter
through REST and `corral jobs list`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.farm import CORRAL, ApiError, Farm, wait_for

HOG = """\
import sys, time
data = b"x" * (int(sys.argv[1]) * 1024 * 1024)  # written, so resident
print("holding", len(data) // (1024 * 1024), "MB", flush=True)
time.sleep(float(sys.argv[2]))
print("released", flush=True)
"""


def hog(tmp_path: Path, megabytes: int, hold_s: float) -> list[str]:
    script = tmp_path / "hog.py"
    script.write_text(HOG)
    return [sys.executable, str(script), str(megabytes), str(hold_s)]


def task_of(farm: Farm, job_id: int) -> dict[str, Any]:
    task: dict[str, Any] = farm.chunks(job_id)[0]
    return task


def chunk_log(farm: Farm, job_id: int) -> str:
    return str(farm.request("GET", f"/api/v1/jobs/{job_id}/tasks/{farm.task(job_id, 0)}/log"))


def test_past_ram_max_the_render_is_ended_and_the_chunk_fails(farm: Farm, tmp_path: Path) -> None:
    farm.client("ramnode")
    farm.wait_nodes(1)
    started = time.monotonic()
    job = farm.submit(command=hog(tmp_path, 200, 20), ram_max=100, requeue=0)
    assert job["ram_max"] == 100
    done = farm.wait_state(job["id"], "done", "failed", timeout_s=60)
    elapsed = time.monotonic() - started
    assert done["state"] == "failed"
    assert elapsed < 15, f"the render held its memory for {elapsed:.1f} s: it was not ended"
    task = task_of(farm, job["id"])
    assert task["failures"] == 1  # a failure like any other (requeue 0: the last one)
    assert "over the job's ram_max of 100 MB" in task["error"]
    used = int(task["error"].split("used ", 1)[1].split(" MB", 1)[0])
    assert used > 100
    assert "over the job's ram_max of 100 MB" in done["failed_reason"]
    log = wait_for(
        lambda: "ram_max" in (text := chunk_log(farm, job["id"])) and text, 10, "the log line"
    )
    assert "holding 200 MB" in log and "released" not in log
    assert f"used {used} MB, over the job's ram_max of 100 MB" in log


def test_past_ram_max_the_chunk_is_retried_as_usual(farm: Farm, tmp_path: Path) -> None:
    farm.client("ramnode")
    farm.wait_nodes(1)
    job = farm.submit(command=hog(tmp_path, 200, 20), ram_max=100, requeue=1)
    done = farm.wait_state(job["id"], "done", "failed", timeout_s=60)
    assert done["state"] == "failed"
    task = task_of(farm, job["id"])
    assert task["failures"] == 2 and task["attempts"] == 2


def test_past_ram_warning_the_log_warns_once_and_the_chunk_succeeds(
    farm: Farm, tmp_path: Path
) -> None:
    farm.client("ramnode")
    farm.wait_nodes(1)
    job = farm.submit(command=hog(tmp_path, 200, 3.5), ram_warning=100)
    assert job["ram_warning"] == 100 and job["ram_max"] is None
    done = farm.wait_state(job["id"], "done", "failed", timeout_s=60)
    assert done["state"] == "done", task_of(farm, job["id"])
    log = wait_for(
        lambda: "released" in (text := chunk_log(farm, job["id"])) and text, 10, "the whole log"
    )
    assert log.count("memory warning") == 1, log
    assert "over the job's ram_warning of 100 MB" in log
    assert task_of(farm, job["id"])["failures"] == 0


def test_under_both_thresholds_nothing_is_said(farm: Farm, tmp_path: Path) -> None:
    farm.client("ramnode")
    farm.wait_nodes(1)
    job = farm.submit(command=hog(tmp_path, 20, 1.5), ram_warning=150, ram_max=300)
    assert farm.wait_state(job["id"], "done", "failed", timeout_s=60)["state"] == "done"
    log = wait_for(
        lambda: "released" in (text := chunk_log(farm, job["id"])) and text, 10, "the whole log"
    )
    assert "memory" not in log


# -- hidden ----------------------------------------------------------------------------


def corral(farm: Farm, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CORRAL, "--dispatcher", farm.url, "--token", farm.token, *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def titles(jobs: list[dict[str, Any]]) -> list[str]:
    return sorted(job["title"] for job in jobs)


def test_hidden_jobs_are_filtered_through_rest_and_the_cli(farm: Farm) -> None:
    farm.submit(title="shown one", paused=True)
    hidden = farm.submit(title="hidden one", hidden=True, paused=True)
    farm.submit(title="shown two", paused=True)
    farm.submit(title="hidden two", hidden=True, paused=True)
    everything = ["hidden one", "hidden two", "shown one", "shown two"]

    assert titles(farm.request("GET", "/api/v1/jobs/")) == everything  # scripts see all
    assert titles(farm.request("GET", "/api/v1/jobs/?hidden=false")) == ["shown one", "shown two"]
    assert titles(farm.request("GET", "/api/v1/jobs/?hidden=true")) == ["hidden one", "hidden two"]
    assert titles(farm.request("GET", "/api/v1/jobs/?hidden=true&state=paused")) == [
        "hidden one", "hidden two",
    ]  # fmt: skip
    page = farm.request("GET", "/api/v1/jobs/?hidden=true&limit=1")
    assert titles(page) == ["hidden one"]
    for bad in ("maybe", "2", ""):
        with pytest.raises(ApiError) as refused:
            farm.request("GET", f"/api/v1/jobs/?hidden={bad}")
        assert refused.value.status == 400 and "hidden" in json.dumps(refused.value.body)

    listed = corral(farm, "jobs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert titles(json.loads(listed.stdout)) == ["shown one", "shown two"]
    listed_all = corral(farm, "jobs", "list", "--all", "--json")
    assert listed_all.returncode == 0, listed_all.stderr
    assert titles(json.loads(listed_all.stdout)) == everything
    table = corral(farm, "jobs", "list")
    assert "shown one" in table.stdout and "hidden one" not in table.stdout

    # An edit moves the job between the two lists at once.
    farm.request("POST", f"/api/v1/jobs/{hidden['id']}", {"hidden": False})
    assert titles(farm.request("GET", "/api/v1/jobs/?hidden=true")) == ["hidden two"]
    assert titles(farm.request("GET", "/api/v1/jobs/?hidden=false")) == [
        "hidden one", "shown one", "shown two",
    ]  # fmt: skip
    listed = corral(farm, "jobs", "list", "--json")
    assert titles(json.loads(listed.stdout)) == ["hidden one", "shown one", "shown two"]
