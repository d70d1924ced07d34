"""MDispatcherAPI functions whose effect a do-nothing implementation would not have:
jobUpdateStatus looks at a held job again now, jobUpdate tells every follower that the
job changed, nodeForceUpdate gets a status report before the next heartbeat, and the
kill variants (kill or kill-and-restart; redo or go-on) each leave the node running
what they promise."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tests.integration.farm import Farm, wait_for
from tests.integration.hookfarm import TEMPLATE_HEAD, script_json, start_farm, write_template
from tests.integration.inprocess import live_dispatcher

pytestmark = pytest.mark.integration

GATE = """
import os

class Gate(Base):
    def __init__(self):
        self.setup(78, "gate")

    def onValidateJobDependancies(self, job):
        if not os.path.exists(job.attributeGetString("gate")):
            return MTemplateAPI.MTemplateError(1, "the gate is closed")

MTemplateAPI.MManager.getUniqueClass().installPyTemplate(Gate())
"""


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    root = tmp_path_factory.mktemp("effects")
    write_template(root / "templates", "gate.py", TEMPLATE_HEAD + GATE)
    # Held verdicts are asked again only every minute, heartbeats come every 30 s:
    # what these tests wait for can only come from the call under test.
    farm = start_farm(root / "farm", "--templates-dir", str(root / "templates"),
                      "--chunk-hold-recheck-s", "60", "--heartbeat-s", "30")  # fmt: skip
    farm.client("solo")
    farm.wait_nodes(1)
    yield farm
    farm.close()


def call(farm: Farm, expression: str) -> int:
    code: int = script_json(
        farm,
        f"""
        import json, MDispatcherAPI
        print(json.dumps(MDispatcherAPI.{expression}.getErrorCode()))
        """,
    )
    return code


def chunk(farm: Farm, job: dict[str, Any]) -> tuple[str, int]:
    view = farm.chunks(job["id"])[0]
    return view["state"], view["attempts"]


def test_job_update_status_asks_a_held_job_again_now(farm: Farm, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    job = farm.submit(title="gated", template="gate", command=["true"], data={"gate": str(gate)})
    wait_for(
        lambda: any("hook holds it back" in reason for reason in farm.request("GET", f"/api/v1/jobs/{job['id']}/why")["reasons"]),
        10, "the job held by its hook",
    )  # fmt: skip
    gate.touch()
    assert call(farm, f"jobUpdateStatus({job['id']})") == 0
    farm.wait_state(job["id"], "done", timeout_s=15)  # well before the 60 s recheck


def test_node_force_update_brings_a_report_before_the_next_heartbeat(farm: Farm) -> None:
    node = farm.nodes()[0]

    def sampled() -> float:
        resources = farm.request("GET", f"/api/v1/nodes/{node['id']}")["resources"]
        return float(resources["sampled"]) if resources else 0.0

    before = sampled()
    assert call(farm, f"nodeForceUpdate({node['id']})") == 0
    wait_for(lambda: sampled() > before, 10, "a fresh status report")


def test_the_kill_variants_are_told_apart(farm: Farm) -> None:
    """One node; job `low` runs, job `high` (more urgent) waits for the node."""
    node = farm.nodes()[0]["id"]
    low = farm.submit(title="low", priority=10, command=["sleep", "60"])
    wait_for(lambda: chunk(farm, low) == ("running", 1), 20, "low running")
    high = farm.submit(title="high", priority=90, command=["sleep", "60"])
    # Redo: the same chunk again on the same node; the waiting job still waits.
    assert call(farm, f"nodeKillAndRedoNodesWorkingOnJob({low['id']})") == 0
    wait_for(lambda: chunk(farm, low) == ("running", 2), 20, "low redone")
    assert chunk(farm, high) == ("queued", 0)
    # Go on: the node takes the next work by priority, the killed chunk waits.
    assert call(farm, f"nodeKillAndGoOnNodesWorkingOnJob({low['id']})") == 0
    wait_for(lambda: chunk(farm, high) == ("running", 1), 20, "high running")
    assert chunk(farm, low) == ("queued", 2)
    # Now the waiting job is the more urgent one.
    farm.request("PATCH", f"/api/v1/jobs/{low['id']}", {"priority": 95})
    # Kill and restart: what the node ran starts again there, the urgent job still waits.
    assert call(farm, f"nodeKillProcessAndRestart({node})") == 0
    wait_for(lambda: chunk(farm, high) == ("running", 2), 20, "high restarted")
    assert chunk(farm, low) == ("queued", 2)
    # Kill: the chunk goes back to the queue and the node takes the most urgent work.
    assert call(farm, f"nodeKillProcess({node})") == 0
    wait_for(lambda: chunk(farm, low) == ("running", 3), 20, "low running after the kill")
    assert chunk(farm, high) == ("queued", 2)
    for job in (low, high):
        farm.request("DELETE", f"/api/v1/jobs/{job['id']}")


async def test_job_update_tells_every_follower_and_writes_the_job(tmp_path: Path) -> None:
    async with live_dispatcher(tmp_path / "farm") as live:
        job = await live.rest(
            "POST", "/api/v1/jobs/", {"title": "u", "command": ["true"], "paused": True}
        )
        events, actions = len(live.events), len(live.actions())
        code = await live.script(
            f"import json, MDispatcherAPI\nprint(json.dumps(MDispatcherAPI.jobUpdate({job['id']}).getErrorCode()))"
        )
        assert code == 0
        published = [msgspec.to_builtins(e) for e in live.events[events:] if e.action == "update"]
        assert (
            published and published[0]["jobs"] == [job["id"]] and published[0]["actor"] == "admin"
        )
        lines = [line for line in live.actions()[actions:] if line["action"] == "update"]
        assert lines and lines[0]["job"] == job["id"] and lines[0]["user"] == "admin"
        with sqlite3.connect(live.dispatcher.settings.db_path) as db:
            spec = db.execute("SELECT spec FROM jobs WHERE id = ?", (job["id"],)).fetchone()[0]
        assert msgspec.json.decode(spec)["uuid"] == job["uuid"]
