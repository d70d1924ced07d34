"""MDispatcherAPI node functions acting on live render clients."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.farm import Farm, wait_for
from tests.integration.hookfarm import covers, script_json, start_farm


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    root = tmp_path_factory.mktemp("api-nodes")
    farm = start_farm(root / "farm")
    events = root / "events.txt"
    farm.client("alpha")
    farm.client("beta", "--system-event-command", f"sh -c 'echo $0 >> {events}'")
    farm.wait_nodes(2)
    yield farm
    farm.close()


def node(farm: Farm, name: str) -> dict[str, Any]:
    return next(item for item in farm.nodes() if item["name"] == name)


def call(farm: Farm, expression: str) -> list[Any]:
    """Evaluate `MDispatcherAPI.<expression>` in a script; [code, description, *values]."""
    return list(
        script_json(
            farm,
            f"""
        import json, MDispatcherAPI
        result = MDispatcherAPI.{expression}
        err, *values = result if isinstance(result, tuple) else (result,)
        print(json.dumps([err.getErrorCode(), err.getDescription(), *[str(v) for v in values]]))
    """,
        )
    )


def running_on(farm: Farm, job_id: int, name: str | None = None) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        for chunk in farm.chunks(job_id):
            if chunk["state"] == "running" and (name is None or chunk["node"] == name):
                return chunk
        return None

    found: dict[str, Any] = wait_for(
        find, 20, f"a chunk of job {job_id} running on {name or 'a node'}"
    )
    return found


@covers(
    "nodeGetList",
    "nodeGet",
    "nodeGetByName",
    "nodeSetNotes",
    "nodePause",
    "nodeResume",
    "nodeForceUpdate",
)
def test_lookup_notes_pause_resume_update(farm: Farm) -> None:
    alpha = node(farm, "alpha")
    result = script_json(
        farm,
        f"""
        import json, MDispatcherAPI
        err_list, nodes = MDispatcherAPI.nodeGetList()
        err_get, got = MDispatcherAPI.nodeGet({alpha["id"]})
        err_name, named = MDispatcherAPI.nodeGetByName("beta")
        missing, nothing = MDispatcherAPI.nodeGetByName("nobody")
        codes = [err_list.getErrorCode(), err_get.getErrorCode(), err_name.getErrorCode()]
        codes.append(MDispatcherAPI.nodeSetNotes({alpha["id"]}, "needs a new fan").getErrorCode())
        codes.append(MDispatcherAPI.nodePause({alpha["id"]}).getErrorCode())
        err, paused = MDispatcherAPI.nodeGet({alpha["id"]})
        codes.append(MDispatcherAPI.nodeForceUpdate({alpha["id"]}).getErrorCode())
        print(json.dumps({{"codes": codes, "names": sorted(n.getName() for n in nodes),
            "got": [got.getName(), got.isOnline(), got.getStatusName()], "named": named.getID(),
            "missing": missing.getErrorCode(), "paused": [paused.isPaused(), paused.getStatus()]}}))
    """,
    )
    assert result["codes"] == [0] * 6
    assert result["names"] == ["alpha", "beta"]
    assert result["got"] == ["alpha", True, "idle"]
    assert result["named"] == node(farm, "beta")["id"] and result["missing"] == 3
    assert result["paused"] == [True, 3]
    assert node(farm, "alpha")["paused"] and node(farm, "alpha")["notes"] == "needs a new fan"
    assert call(farm, f"nodeResume({alpha['id']})")[0] == 0
    assert not node(farm, "alpha")["paused"]
    assert call(farm, "nodePause(999)")[0] == 3


@covers("nodeSetProcessPriority", "nodeSetRealtimeLog", "nodeRunPythonCode", "nodeSendSystemEvent")
def test_priority_realtime_log_python_and_system_events(farm: Farm, tmp_path: Path) -> None:
    alpha, beta = node(farm, "alpha"), node(farm, "beta")
    assert call(farm, f"nodeSetProcessPriority({alpha['id']}, 7)")[0] == 0
    assert call(farm, f"nodeSetProcessPriority({alpha['id']}, 99)")[0] == 2
    nice = tmp_path / "nice.txt"
    farm.request("POST", f"/api/v1/nodes/{beta['id']}/actions/pause")
    job = farm.submit(title="niceness", command=["sh", "-c", f"ps -o ni= -p $$ > {nice}"])
    farm.wait_state(job["id"], "done")
    farm.request("POST", f"/api/v1/nodes/{beta['id']}/actions/resume")
    assert nice.read_text().strip() == "7"
    assert call(farm, f"nodeSetRealtimeLog({alpha['id']}, False)")[0] == 0
    with sqlite3.connect(farm.data_dir / "corral.db") as db:
        info = json.loads(
            db.execute("SELECT info FROM nodes WHERE id = ?", (alpha["id"],)).fetchone()[0]
        )
    assert info["realtime_log"] is False and info["process_priority"] == 7
    assert call(farm, f"nodeSetRealtimeLog({alpha['id']}, True)")[0] == 0
    printed = script_json(
        farm,
        f"""
        import json, MDispatcherAPI
        out = MDispatcherAPI.MStringRef()
        err = MDispatcherAPI.nodeRunPythonCode({alpha["id"]}, "import muster; print(6 * 7, muster.runningContext())", out)
        bad = MDispatcherAPI.nodeRunPythonCode({alpha["id"]}, "raise SystemExit(4)")
        print(json.dumps([err.getErrorCode(), out.getString(), bad.getErrorCode()]))
    """,
    )
    assert printed[0] == 0 and printed[1].split() == ["42", "renderclient"] and printed[2] != 0
    events = farm.data_dir.parent / "events.txt"
    ok = call(farm, f"nodeSendSystemEvent({beta['id']}, MDispatcherAPI.kSystemEventReboot)")
    assert ok[0] == 0 and events.read_text().split() == ["reboot"]
    refused = call(farm, f"nodeSendSystemEvent({alpha['id']}, MDispatcherAPI.kSystemEventShutdown)")
    assert refused[0] == 4 and "no system event command" in refused[1]


@covers("nodeKillProcess", "nodeKillProcessAndPause", "nodeKillProcessAndRestart")
def test_kill_a_nodes_process(farm: Farm) -> None:
    alpha = node(farm, "alpha")
    farm.request("POST", f"/api/v1/nodes/{node(farm, 'beta')['id']}/actions/pause")
    try:
        job = farm.submit(title="sleeper", frames="1-1", command=["sleep", "30"])
        running_on(farm, job["id"], "alpha")
        assert call(farm, f"nodeKillProcess({alpha['id']})")[0] == 0
        wait_for(lambda: farm.chunks(job["id"])[0]["attempts"] == 2, 20, "attempt 2 after the kill")
        assert farm.chunks(job["id"])[0]["failures"] == 0
        running_on(farm, job["id"], "alpha")
        assert call(farm, f"nodeKillProcessAndRestart({alpha['id']})")[0] == 0
        wait_for(
            lambda: (c := farm.chunks(job["id"])[0])["attempts"] == 3 and c["state"] == "running",
            20,
            "redo",
        )
        assert farm.chunks(job["id"])[0]["node"] == "alpha"
        assert call(farm, f"nodeKillProcessAndPause({alpha['id']})")[0] == 0
        wait_for(
            lambda: farm.chunks(job["id"])[0]["state"] == "queued",
            20,
            "the chunk back in the queue",
        )
        assert node(farm, "alpha")["paused"]
        farm.request("DELETE", f"/api/v1/jobs/{job['id']}")
    finally:
        farm.request("POST", f"/api/v1/nodes/{alpha['id']}/actions/resume")
        farm.request("POST", f"/api/v1/nodes/{node(farm, 'beta')['id']}/actions/resume")


@covers(
    "nodeKillAndPauseNodesWorkingOnJob",
    "nodeKillAndRedoNodesWorkingOnJob",
    "nodeKillAndGoOnNodesWorkingOnJob",
)
def test_kill_the_nodes_working_on_a_job(farm: Farm) -> None:
    job = farm.submit(title="wide", frames="1-2", command=["sleep", "30"])
    wait_for(
        lambda: [c["state"] for c in farm.chunks(job["id"])] == ["running", "running"],
        20,
        "both running",
    )
    assert call(farm, f"nodeKillAndRedoNodesWorkingOnJob({job['id']})")[0] == 0
    wait_for(
        lambda: all(c["attempts"] == 2 and c["state"] == "running" for c in farm.chunks(job["id"])),
        20,
        "redo",
    )
    assert call(farm, f"nodeKillAndGoOnNodesWorkingOnJob({job['id']})")[0] == 0
    wait_for(
        lambda: all(c["attempts"] >= 3 for c in farm.chunks(job["id"])), 20, "go on: new attempts"
    )
    wait_for(
        lambda: [c["state"] for c in farm.chunks(job["id"])] == ["running", "running"],
        20,
        "running again",
    )
    assert call(farm, f"nodeKillAndPauseNodesWorkingOnJob({job['id']})")[0] == 0
    wait_for(lambda: all(n["paused"] for n in farm.nodes()), 20, "both nodes paused")
    wait_for(
        lambda: [c["state"] for c in farm.chunks(job["id"])] == ["queued", "queued"],
        20,
        "chunks queued",
    )
    assert call(farm, "nodeKillAndGoOnNodesWorkingOnJob(999)")[0] == 3
    farm.request("DELETE", f"/api/v1/jobs/{job['id']}")
    for item in farm.nodes():
        farm.request("POST", f"/api/v1/nodes/{item['id']}/actions/resume")


@covers("nodePurgeTemplatesExclusion", "nodePurgeJobsExclusions")
def test_purge_exclusions(farm: Farm) -> None:
    alpha, beta = node(farm, "alpha"), node(farm, "beta")
    farm.request("POST", f"/api/v1/nodes/{alpha['id']}/actions/exclude", {"template": "demo"})
    assert node(farm, "alpha")["excluded_templates"] == ["demo"]
    assert call(farm, f"nodePurgeTemplatesExclusion({alpha['id']}, 2)")[0] == 0  # demo's id
    assert node(farm, "alpha")["excluded_templates"] == []
    farm.request("POST", f"/api/v1/nodes/{beta['id']}/actions/pause")
    failing = farm.submit(title="fails", frames="1-1", requeue=5, command=["false"])
    wait_for(
        lambda: failing["id"] in node(farm, "alpha")["excluded_jobs"],
        20,
        "alpha excluded from the job",
    )
    farm.request("POST", f"/api/v1/jobs/{failing['id']}/actions/pause")
    farm.request("POST", f"/api/v1/nodes/{beta['id']}/actions/resume")
    assert call(farm, f"nodePurgeJobsExclusions({alpha['id']}, {failing['id']})")[0] == 0
    assert node(farm, "alpha")["excluded_jobs"] == []
    farm.request("DELETE", f"/api/v1/jobs/{failing['id']}")


@covers("nodeSoftRestart", "nodeRemoveRegistration")
def test_soft_restart_and_remove_registration(farm: Farm) -> None:
    gamma_process = farm.client("gamma")
    wait_for(
        lambda: any(n["name"] == "gamma" and n["online"] for n in farm.nodes()), 20, "gamma online"
    )
    gamma = node(farm, "gamma")
    address = gamma["address"]
    assert call(farm, f"nodeSoftRestart({gamma['id']})")[0] == 0
    wait_for(
        lambda: (n := node(farm, "gamma"))["online"] and n["address"] != address, 30, "gamma back"
    )
    assert call(farm, f"nodeRemoveRegistration({gamma['id']})")[0] == 4  # still connected
    gamma_process.terminate()
    gamma_process.wait(timeout=20)
    wait_for(lambda: not node(farm, "gamma")["online"], 20, "gamma offline")
    assert call(farm, f"nodeRemoveRegistration({gamma['id']})")[0] == 0
    assert "gamma" not in [n["name"] for n in farm.nodes()]
