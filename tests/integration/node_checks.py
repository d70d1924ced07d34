"""The checks of the node functions, shared by MDispatcherAPI's tests (a
dispatcher-context script) and MConsoleAPI's (a console-context script).

Each check takes the farm (render nodes alpha, and beta with a system event command)
and `run`, which runs a script body in its context, with `json` imported and the API
bound to `api`, and returns the JSON value the script printed last.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from tests.integration.farm import Farm, wait_for
from tests.integration.system_checks import Runner


def node(farm: Farm, name: str) -> dict[str, Any]:
    return next(item for item in farm.nodes() if item["name"] == name)


def call(farm: Farm, run: Runner, expression: str) -> list[Any]:
    """Evaluate `api.<expression>` in a script; [code, description, *values]."""
    return list(
        run(
            farm,
            f"""
        result = api.{expression}
        err, *values = result if isinstance(result, tuple) else (result,)
        print(json.dumps([err.getErrorCode(), err.getDescription(), *[str(v) for v in values]]))
    """,
        )
    )


def running_on(farm: Farm, job_id: int, name: str | None = None) -> dict[str, Any]:
    """The chunk of `job_id` running (on node `name`), once there is one."""

    def find() -> dict[str, Any] | None:
        for chunk in farm.chunks(job_id):
            if chunk["state"] == "running" and (name is None or chunk["node"] == name):
                return chunk
        return None

    found: dict[str, Any] = wait_for(
        find, 20, f"a chunk of job {job_id} running on {name or 'a node'}"
    )
    return found


def check_lookup_notes_pause_resume_update(farm: Farm, run: Runner) -> None:
    alpha = node(farm, "alpha")
    result = run(
        farm,
        f"""
        import json
        err_list, nodes = api.nodeGetList()
        err_get, got = api.nodeGet({alpha["id"]})
        err_name, named = api.nodeGetByName("beta")
        missing, nothing = api.nodeGetByName("nobody")
        codes = [err_list.getErrorCode(), err_get.getErrorCode(), err_name.getErrorCode()]
        codes.append(api.nodeSetNotes({alpha["id"]}, "needs a new fan").getErrorCode())
        codes.append(api.nodePause({alpha["id"]}).getErrorCode())
        err, paused = api.nodeGet({alpha["id"]})
        codes.append(api.nodeForceUpdate({alpha["id"]}).getErrorCode())
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
    assert call(farm, run, f"nodeResume({alpha['id']})")[0] == 0
    assert not node(farm, "alpha")["paused"]
    assert call(farm, run, "nodePause(999)")[0] == 3


def check_priority_realtime_log_python_and_system_events(
    farm: Farm, run: Runner, tmp_path: Path
) -> None:
    alpha, beta = node(farm, "alpha"), node(farm, "beta")
    assert call(farm, run, f"nodeSetProcessPriority({alpha['id']}, 7)")[0] == 0
    assert call(farm, run, f"nodeSetProcessPriority({alpha['id']}, 99)")[0] == 2
    nice = tmp_path / "nice.txt"
    farm.request("POST", f"/api/v1/nodes/{beta['id']}/actions/pause")
    job = farm.submit(title="niceness", command=["sh", "-c", f"ps -o ni= -p $$ > {nice}"])
    farm.wait_state(job["id"], "done")
    farm.request("POST", f"/api/v1/nodes/{beta['id']}/actions/resume")
    assert nice.read_text().strip() == "7"
    assert call(farm, run, f"nodeSetRealtimeLog({alpha['id']}, False)")[0] == 0
    with sqlite3.connect(farm.data_dir / "corral.db") as db:
        info = json.loads(
            db.execute("SELECT info FROM nodes WHERE id = ?", (alpha["id"],)).fetchone()[0]
        )
    assert info["realtime_log"] is False and info["process_priority"] == 7
    assert call(farm, run, f"nodeSetRealtimeLog({alpha['id']}, True)")[0] == 0
    printed = run(
        farm,
        f"""
        import json
        out = api.MStringRef()
        err = api.nodeRunPythonCode({alpha["id"]}, "import muster; print(6 * 7, muster.runningContext())", out)
        bad = api.nodeRunPythonCode({alpha["id"]}, "raise SystemExit(4)")
        print(json.dumps([err.getErrorCode(), out.getString(), bad.getErrorCode()]))
    """,
    )
    assert printed[0] == 0 and printed[1].split() == ["42", "renderclient"] and printed[2] != 0
    events = farm.data_dir.parent / "events.txt"
    ok = call(farm, run, f"nodeSendSystemEvent({beta['id']}, api.kSystemEventReboot)")
    assert ok[0] == 0 and events.read_text().split() == ["reboot"]
    refused = call(farm, run, f"nodeSendSystemEvent({alpha['id']}, api.kSystemEventShutdown)")
    assert refused[0] == 4 and "no system event command" in refused[1]


def check_kill_a_nodes_process(farm: Farm, run: Runner) -> None:
    alpha = node(farm, "alpha")
    farm.request("POST", f"/api/v1/nodes/{node(farm, 'beta')['id']}/actions/pause")
    try:
        job = farm.submit(title="sleeper", frames="1-1", command=["sleep", "30"])
        running_on(farm, job["id"], "alpha")
        assert call(farm, run, f"nodeKillProcess({alpha['id']})")[0] == 0
        wait_for(lambda: farm.chunks(job["id"])[0]["attempts"] == 2, 20, "attempt 2 after the kill")
        assert farm.chunks(job["id"])[0]["failures"] == 0
        running_on(farm, job["id"], "alpha")
        assert call(farm, run, f"nodeKillProcessAndRestart({alpha['id']})")[0] == 0
        wait_for(
            lambda: (c := farm.chunks(job["id"])[0])["attempts"] == 3 and c["state"] == "running",
            20,
            "redo",
        )
        assert farm.chunks(job["id"])[0]["node"] == "alpha"
        assert call(farm, run, f"nodeKillProcessAndPause({alpha['id']})")[0] == 0
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


def check_kill_the_nodes_working_on_a_job(farm: Farm, run: Runner) -> None:
    job = farm.submit(title="wide", frames="1-2", command=["sleep", "30"])
    try:
        wait_for(
            lambda: [c["state"] for c in farm.chunks(job["id"])] == ["running", "running"],
            20,
            "both running",
        )
        assert call(farm, run, f"nodeKillAndRedoNodesWorkingOnJob({job['id']})")[0] == 0
        wait_for(
            lambda: all(
                c["attempts"] == 2 and c["state"] == "running" for c in farm.chunks(job["id"])
            ),
            20,
            "redo",
        )
        assert call(farm, run, f"nodeKillAndGoOnNodesWorkingOnJob({job['id']})")[0] == 0
        wait_for(
            lambda: all(c["attempts"] >= 3 for c in farm.chunks(job["id"])),
            20,
            "go on: new attempts",
        )
        wait_for(
            lambda: [c["state"] for c in farm.chunks(job["id"])] == ["running", "running"],
            20,
            "running again",
        )
        assert call(farm, run, f"nodeKillAndPauseNodesWorkingOnJob({job['id']})")[0] == 0
        wait_for(lambda: all(n["paused"] for n in farm.nodes()), 20, "both nodes paused")
        wait_for(
            lambda: [c["state"] for c in farm.chunks(job["id"])] == ["queued", "queued"],
            20,
            "chunks queued",
        )
        assert call(farm, run, "nodeKillAndGoOnNodesWorkingOnJob(999)")[0] == 3
    finally:
        farm.request("DELETE", f"/api/v1/jobs/{job['id']}")
        for item in farm.nodes():
            farm.request("POST", f"/api/v1/nodes/{item['id']}/actions/resume")


def check_purge_exclusions(farm: Farm, run: Runner) -> None:
    alpha, beta = node(farm, "alpha"), node(farm, "beta")
    farm.request("POST", f"/api/v1/nodes/{alpha['id']}/actions/exclude", {"template": "demo"})
    assert node(farm, "alpha")["excluded_templates"] == ["demo"]
    assert call(farm, run, f"nodePurgeTemplatesExclusion({alpha['id']}, 2)")[0] == 0  # demo's id
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
    assert call(farm, run, f"nodePurgeJobsExclusions({alpha['id']}, {failing['id']})")[0] == 0
    assert node(farm, "alpha")["excluded_jobs"] == []
    farm.request("DELETE", f"/api/v1/jobs/{failing['id']}")


def check_soft_restart_and_remove_registration(farm: Farm, run: Runner) -> None:
    gamma_process = farm.client("gamma")
    wait_for(
        lambda: any(n["name"] == "gamma" and n["online"] for n in farm.nodes()), 20, "gamma online"
    )
    gamma = node(farm, "gamma")
    address = gamma["address"]
    assert call(farm, run, f"nodeSoftRestart({gamma['id']})")[0] == 0
    wait_for(
        lambda: (n := node(farm, "gamma"))["online"] and n["address"] != address, 30, "gamma back"
    )
    assert call(farm, run, f"nodeRemoveRegistration({gamma['id']})")[0] == 4  # still connected
    gamma_process.terminate()
    gamma_process.wait(timeout=20)
    wait_for(lambda: not node(farm, "gamma")["online"], 20, "gamma offline")
    assert call(farm, run, f"nodeRemoveRegistration({gamma['id']})")[0] == 0
    assert "gamma" not in [n["name"] for n in farm.nodes()]
