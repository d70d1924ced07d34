"""Template errors, log checks and chunk outcomes on a real farm: a dispatcher with the
error-check templates in its site folder, a real render client, and a stand-in
renderer (a Python script) that prints log lines, sleeps, crashes and writes files."""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.farm import Farm, running_progress, wait_for, watching
from tests.integration.hookfarm import start_farm

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data"
TEMPLATE = DATA / "templates" / "errcheck.py"
RENDERER = DATA / "renderers" / "fakerender.py"
K_SKIP_WARNINGS = 1
K_SKIP_ERRORS = 2


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    root = tmp_path_factory.mktemp("errors")
    site = root / "site"
    site.mkdir()
    shutil.copy(TEMPLATE, site / "errcheck.py")
    farm = start_farm(root / "farm", "--templates-dir", str(site))
    farm.client("err1", "--log-check-interval-s", "0.2")
    farm.wait_nodes(1)
    yield farm
    farm.close()


def submit(farm: Farm, steps: list[str], *, template: str = "errcheck", frames: str = "1",
           batch: int = 1, requeue: int = 0, **data: Any) -> dict[str, Any]:  # fmt: skip
    return farm.submit(
        template=template, frames=frames, batch=batch, requeue=requeue,
        data={"renderer": str(RENDERER), "steps": json.dumps(steps), **data},
    )  # fmt: skip


def task(farm: Farm, job_id: int, chunk: int = 0) -> dict[str, Any]:
    found: dict[str, Any] = farm.request(
        "GET", f"/api/v1/jobs/{job_id}/tasks/{farm.task(job_id, chunk)}"
    )
    return found


def chunk_log(farm: Farm, job_id: int, chunk: int = 0) -> str:
    return str(farm.request("GET", f"/api/v1/logs/chunks/{job_id}/{chunk}"))


def test_a_crash_line_aborts_the_render_early_without_retries(farm: Farm) -> None:
    started = time.monotonic()
    job = submit(farm, ["print:frame 1 starting", "sleep:0.5", "print:FATAL CRASH in shader",
                        "sleep:30", "print:still rendering"], requeue=3)  # fmt: skip
    done = farm.wait_state(job["id"], "done", "failed", timeout_s=25)
    assert done["state"] == "failed"
    assert time.monotonic() - started < 20  # the renderer would have run 30 s
    view = task(farm, job["id"])
    assert view["attempts"] == 1 and view["state"] == "failed"  # requeue=3, yet no retry
    assert len(view["runs"]) == 1
    run = view["runs"][0]
    assert run["state"] == "failed" and "the renderer crashed" in run["error"]
    assert run["finished"] - run["started"] < 10 and run["errors"] == 1
    assert "aborted by its template" in done["failed_reason"]
    log = chunk_log(farm, job["id"])
    assert "FATAL CRASH" in log and "still rendering" not in log
    assert "the template aborts the render" in log


def test_a_warning_is_counted_and_the_chunk_succeeds(farm: Farm) -> None:
    job = submit(farm, ["print:WARNING: texture missing", "print:done"])
    assert farm.wait_state(job["id"], "done", "failed")["state"] == "done"
    view = task(farm, job["id"])
    assert (view["warnings"], view["errors"]) == (1, 0)
    assert view["runs"][-1]["warnings"] == 1
    assert "[corral] warning: onCheckLog: the renderer warned" in chunk_log(farm, job["id"])


def test_a_warning_with_a_non_zero_exit_still_fails_on_the_exit_code(farm: Farm) -> None:
    job = submit(farm, ["print:WARNING: texture missing", "exit:3"])
    assert farm.wait_state(job["id"], "done", "failed")["state"] == "failed"
    view = task(farm, job["id"])
    assert "exited with code 3" in view["runs"][-1]["error"] and view["warnings"] == 1


def test_skip_warnings_and_skip_errors_follow_the_job(farm: Farm) -> None:
    skipped = submit(farm, ["print:WARNING: texture missing"], logs_error_check=K_SKIP_WARNINGS)
    assert farm.wait_state(skipped["id"], "done", "failed")["state"] == "done"
    assert task(farm, skipped["id"])["warnings"] == 0
    assert "warning skipped by the job" in chunk_log(farm, skipped["id"])

    failing = submit(farm, ["print:ERROR: bad normal"])
    assert farm.wait_state(failing["id"], "done", "failed")["state"] == "failed"
    assert task(farm, failing["id"])["errors"] == 1

    tolerated = submit(farm, ["print:ERROR: bad normal"], logs_error_check=K_SKIP_ERRORS)
    assert farm.wait_state(tolerated["id"], "done", "failed")["state"] == "done"
    assert task(farm, tolerated["id"])["errors"] == 1


def test_the_final_check_sees_the_whole_log(farm: Farm) -> None:
    job = submit(farm, ["bulk:50000", "print:RENDER SUCCESS", "bulk:1048576"], need_success="1")
    assert farm.wait_state(job["id"], "done", "failed")["state"] == "done"
    missing = submit(farm, ["bulk:50000", "bulk:1048576"], need_success="1")
    assert farm.wait_state(missing["id"], "done", "failed")["state"] == "failed"
    assert "no success line" in task(farm, missing["id"])["runs"][-1]["error"]


def test_progress_reaches_the_chunk_view_the_events_and_the_live_log(farm: Farm) -> None:
    with watching(farm) as events:
        job = submit(farm, ["print:PROGRESS 10%", "sleep:1.5", "print:PROGRESS 42%", "sleep:5",
                            "print:PROGRESS 100%"])  # fmt: skip
        wait_for(lambda: task(farm, job["id"])["progress"] == 10.0, 15, "progress 10")
        # Followed live: what the running chunk writes from now on arrives as it comes.
        url = f"{farm.url}/api/v1/logs/chunks/{job['id']}/0?follow=1&follow_s=3"
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {farm.token}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            live = answer.read().decode()
        assert "PROGRESS 42%" in live and "PROGRESS 100%" not in live
        view = wait_for(lambda: (v := task(farm, job["id"]))["progress"] == 42.0 and v, 15,
                        "progress 42 in the chunk view")  # fmt: skip
        assert view["state"] == "running"
        assert farm.job(job["id"])["state"] == "running"  # the log was read while it ran
        assert farm.wait_state(job["id"], "done", "failed")["state"] == "done"
        assert task(farm, job["id"])["progress"] == 100.0
    running = running_progress(events, job["id"])
    assert {"0": 42.0} in running, running


def test_frames_completed_are_counted(farm: Farm) -> None:
    job = submit(farm, ["print:Saved frame {start}", "print:Saved frame 2", "exit:1"],
                 frames="1-3", batch=3)  # fmt: skip
    assert farm.wait_state(job["id"], "done", "failed")["state"] == "failed"
    assert task(farm, job["id"])["frames_done"] == 2
    whole = submit(farm, ["print:rendering"], frames="1-3", batch=3)
    assert farm.wait_state(whole["id"], "done", "failed")["state"] == "done"
    assert task(farm, whole["id"])["frames_done"] == 3


def test_a_missing_declared_output_fails_the_chunk(farm: Farm, tmp_path: Path) -> None:
    out = str(tmp_path)
    job = submit(farm, [f"write:{out}/frame_0001.png"], template="errcheck_out", frames="1-2",
                 batch=2, output_folder=out)  # fmt: skip
    assert farm.wait_state(job["id"], "done", "failed")["state"] == "failed"
    error = task(farm, job["id"])["runs"][-1]["error"]
    assert "missing output (1 of 2 files)" in error and f"{out}/frame_0002.png" in error
    whole = submit(farm, [f"write:{out}/frame_0003.png", f"write:{out}/frame_0004.png"],
                   template="errcheck_out", frames="3-4", batch=2, output_folder=out)  # fmt: skip
    assert farm.wait_state(whole["id"], "done", "failed")["state"] == "done"
