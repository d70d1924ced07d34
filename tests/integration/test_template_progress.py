"""Progress from a template's onCheckProgress on a real farm: a dispatcher with the
progress templates in its site folder, a real render client, and a stand-in renderer
(a Python script) that prints a line per finished tile, slowly."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.farm import Farm, running_progress, wait_for, watching
from tests.integration.hookfarm import start_farm

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data"
TEMPLATE = DATA / "templates" / "progresscb.py"
RENDERER = DATA / "renderers" / "fakerender.py"


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    root = tmp_path_factory.mktemp("progress")
    site = root / "site"
    site.mkdir()
    shutil.copy(TEMPLATE, site / "progresscb.py")
    farm = start_farm(root / "farm", "--templates-dir", str(site))
    farm.client("prog1", "--log-check-interval-s", "0.2")
    farm.wait_nodes(1)
    yield farm
    farm.close()


def submit(farm: Farm, template: str, steps: list[str], **data: Any) -> dict[str, Any]:
    return farm.submit(
        template=template, frames="1", batch=1, requeue=0,
        data={"renderer": str(RENDERER), "steps": json.dumps(steps), **data},
    )  # fmt: skip


def task(farm: Farm, job_id: int) -> dict[str, Any]:
    found: dict[str, Any] = farm.request(
        "GET", f"/api/v1/jobs/{job_id}/tasks/{farm.task(job_id, 0)}"
    )
    return found


def test_the_templates_percent_shows_in_the_task_view_and_the_events_while_it_runs(
    farm: Farm,
) -> None:
    with watching(farm) as events:
        steps = ["print:loading scene", "sleep:1.5", "print:tile 1 done", "sleep:2",
                 "print:tile 2 done", "print:tile 3 done", "sleep:5", "print:tile 4 done"]  # fmt: skip
        job = submit(farm, "tiles", steps, tile_count="4")
        view = wait_for(lambda: (v := task(farm, job["id"]))["progress"] == 25.0 and v, 20,
                        "25% (one tile of four) in the task view")  # fmt: skip
        assert view["state"] == "running"
        view = wait_for(lambda: (v := task(farm, job["id"]))["progress"] == 75.0 and v, 20,
                        "75% (three tiles of four) in the task view")  # fmt: skip
        assert view["state"] == "running"
        assert farm.wait_state(job["id"], "done", "failed")["state"] == "done"
        assert task(farm, job["id"])["progress"] == 100.0
    running = running_progress(events, job["id"])
    assert {"0": 75.0} in running, running


def test_a_raising_on_check_progress_does_not_fail_the_chunk(farm: Farm) -> None:
    steps = ["print:tile 1 done", "sleep:1", "print:tile 2 done", "sleep:1", "print:tile 3 done"]
    job = submit(farm, "tiles_broken", steps, tile_count="4")
    assert farm.wait_state(job["id"], "done", "failed")["state"] == "done"
    view = task(farm, job["id"])
    assert view["state"] == "done" and view["attempts"] == 1 and view["progress"] == 100.0
    log = str(farm.request("GET", f"/api/v1/logs/chunks/{job['id']}/0"))
    assert log.count("RuntimeError: the tile counter is broken") == 2, log  # message, traceback
    assert log.count("onCheckProgress is not called again") == 1
    assert "tile 3 done" in log
