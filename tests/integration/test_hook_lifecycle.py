"""The 13 dispatcher hooks, each at its point, on a live farm with a real hook host."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.farm import CORRAL, ApiError, Farm, wait_for
from tests.integration.hookfarm import TEMPLATE_HEAD, start_farm, write_template

LIFECYCLE = (
    TEMPLATE_HEAD
    + '''
import os
LOG = {log!r}

class Lifecycle(Base):
    def __init__(self):
        self.setup(500, "lifecycle")

    def onDispatcherOverrideImpersonationUser(self, user, owner):
        note(LOG, "impersonation", user, owner.getString())
        if owner.getString() == "alias":
            owner.setString("real-owner")

    def onValidateJobSubmission(self, job):
        note(LOG, "validate", job.getName())
        if job.getName().startswith("bad"):
            return MTemplateAPI.MTemplateError(1, "names may not start with bad")
        return MTemplateAPI.MTemplateError()

    def onSubmitJob(self, job):
        note(LOG, "submit", job.getName())
        job.setPriority(job.getPriority() + 1)
        job.attributeSetString("stamped", "yes")

    def onEditJob(self, job):
        note(LOG, "edit", job.getJobId(), job.getPriority())
        if job.getPriority() == 13:
            return MTemplateAPI.MTemplateError(2, "13 is unlucky")
        job.setNotes("edited by hook")

    def onJobPropertiesChanged(self, job):
        note(LOG, "properties", job.getJobId())

    def onDeleteJob(self, job):
        note(LOG, "delete", job.getJobId())

    def onReinitJob(self, job):
        note(LOG, "reinit", job.getJobId())

    def onJobStart(self, job):
        note(LOG, "start", job.getJobId())

    def onJobCompleted(self, job):
        note(LOG, "completed", job.getJobId(), str(job.getStatus()))

    def onJobEnd(self, job):
        note(LOG, "end", job.getJobId(), str(job.getStatus()))

    def onValidateJobDependancies(self, job):
        gate = job.attributeGetString("gate")
        if gate and not os.path.exists(gate):
            return MTemplateAPI.MTemplateError(1, "the gate is closed")

    def onValidateChunkDependancies(self, job, chunk):
        gate = job.attributeGetString("chunk_gate")
        if gate and chunk.getStartFrame() == 3 and not os.path.exists(gate):
            return MTemplateAPI.MTemplateError(1, "frame 3 waits")

    def onDispatcherIdling(self):
        note(LOG, "idle")

MTemplateAPI.MManager.getUniqueClass().installPyTemplate(Lifecycle())

class Partial(Base):
    def __init__(self):
        self.setup(501, "partial")

    def onJobEnd(self, job):
        note(LOG, "partial-end", job.getJobId())

MTemplateAPI.MManager.getUniqueClass().installPyTemplate(Partial())

class Recursive(Base):
    """Every properties change edits the job again: the depth limit stops the chain."""

    def __init__(self):
        self.setup(502, "recursive")

    def onJobPropertiesChanged(self, job):
        note(LOG, "recursive", job.getJobId(), job.getPriority())
        job.setPriority(job.getPriority() + 1)
        MDispatcherAPI.jobEdit(job)

    def onJobCompleted(self, job):
        child = MDispatcherAPI.MJob()
        child.setName("child of " + str(job.getJobId()))
        child.setTemplateID("lifecycle")
        child.setCommand(["true"])
        err = MDispatcherAPI.jobSubmit(child, "hook")
        note(LOG, "spawned", err.getErrorCode(), child.getJobId())

MTemplateAPI.MManager.getUniqueClass().installPyTemplate(Recursive())
'''
)


def lines(log: Path, kind: str) -> list[list[str]]:
    if not log.exists():
        return []
    return [line.split()[1:] for line in log.read_text().splitlines() if line.split()[0] == kind]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Farm, Path]]:
    root = tmp_path_factory.mktemp("lifecycle")
    log = root / "hooks.log"
    write_template(root / "templates", "lifecycle.py", LIFECYCLE.format(log=str(log)))
    farm = start_farm(root / "farm", "--templates-dir", str(root / "templates"))
    farm.client("alpha", instances=2)
    farm.wait_nodes(2)
    yield farm, log
    farm.close()


def test_submission_hooks_refuse_change_and_impersonate(setup: tuple[Farm, Path]) -> None:
    farm, log = setup
    with pytest.raises(ApiError) as refused:
        farm.submit(title="bad apple", template="lifecycle", command=["true"])
    assert refused.value.status == 422
    assert "names may not start with bad" in refused.value.body["detail"]
    assert not [job for job in farm.request("GET", "/api/v1/jobs/") if job["title"] == "bad apple"]
    cli = subprocess.run(
        [CORRAL, "--dispatcher", farm.url, "--token", farm.token, "submit", "--name", "bad cli",
         "--template", "lifecycle", "--", "true"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert cli.returncode == 1 and "names may not start with bad" in cli.stderr
    job = farm.submit(
        title="good", template="lifecycle", priority=40, user="alias", paused=True, command=["true"]
    )
    assert (job["user"], job["priority"], job["data"]) == ("real-owner", 41, {"stamped": "yes"})
    assert ["admin", "alias"] in lines(log, "impersonation")
    assert ["good"] in lines(log, "validate") and ["good"] in lines(log, "submit")


def test_edit_properties_reinit_delete(setup: tuple[Farm, Path]) -> None:
    farm, log = setup
    job = farm.submit(title="editable", template="lifecycle", paused=True, command=["true"])
    with pytest.raises(ApiError) as refused:
        farm.request("PATCH", f"/api/v1/jobs/{job['id']}", {"priority": 13})
    assert refused.value.status == 422 and "13 is unlucky" in refused.value.body["detail"]
    assert farm.job(job["id"])["priority"] == job["priority"]
    edited = farm.request("PATCH", f"/api/v1/jobs/{job['id']}", {"priority": 60})
    assert (edited["priority"], edited["notes"]) == (60, "edited by hook")
    farm.request("POST", f"/api/v1/jobs/{job['id']}/actions/resume")
    farm.wait_state(job["id"], "done")
    farm.request("POST", f"/api/v1/jobs/{job['id']}/actions/reinit")
    farm.wait_state(job["id"], "done")
    farm.request("DELETE", f"/api/v1/jobs/{job['id']}")
    wait_for(lambda: [str(job["id"])] in lines(log, "delete"), 10, "onDeleteJob")
    me = [str(job["id"])]
    assert lines(log, "properties").count(me) >= 2  # the edit, the resume
    assert me in lines(log, "reinit")
    assert [str(job["id"]), "13"] in lines(log, "edit")


def test_start_completed_end_once_each_in_order(setup: tuple[Farm, Path]) -> None:
    farm, log = setup
    job = farm.submit(title="runner", template="lifecycle", frames="1-4", command=["true"])
    farm.wait_state(job["id"], "done")
    me = str(job["id"])
    wait_for(lambda: [me, "done"] in lines(log, "end"), 10, "onJobEnd")
    events = [line.split()[0] for line in log.read_text().splitlines() if line.split()[1:2] == [me]]
    ordered = [event for event in events if event in ("start", "completed", "end")]
    assert ordered == ["start", "completed", "end"]
    failed = farm.submit(title="fails", template="partial", requeue=0, command=["false"])
    farm.wait_state(failed["id"], "failed")
    wait_for(
        lambda: [str(failed["id"])] in lines(log, "partial-end"), 10, "onJobEnd of a failed job"
    )
    assert not [line for line in lines(log, "completed") if line[0] == str(failed["id"])]


def test_dependency_hooks_hold_jobs_and_chunks(setup: tuple[Farm, Path], tmp_path: Path) -> None:
    farm, _ = setup
    gate, chunk_gate = tmp_path / "gate", tmp_path / "chunk_gate"
    held = farm.submit(
        title="gated", template="lifecycle", command=["true"], data={"gate": str(gate)}
    )
    chunky = farm.submit(title="chunky", template="lifecycle", frames="1-4", command=["true"],
                         data={"chunk_gate": str(chunk_gate)})  # fmt: skip
    wait_for(lambda: [c["state"] for c in farm.chunks(chunky["id"])] == ["done", "done", "queued", "done"],
             20, "every chunk but frame 3")  # fmt: skip
    assert farm.job(held["id"])["state"] == "queued"
    why = farm.request("GET", f"/api/v1/jobs/{held['id']}/why")["reasons"]
    assert any("hook holds it back" in reason for reason in why)
    gate.touch()
    chunk_gate.touch()
    assert farm.wait_state(held["id"], "done", timeout_s=20)["state"] == "done"
    assert farm.wait_state(chunky["id"], "done", timeout_s=20)["state"] == "done"


def test_idling_runs_while_nodes_idle(setup: tuple[Farm, Path]) -> None:
    _, log = setup
    count = len(lines(log, "idle"))
    wait_for(lambda: len(lines(log, "idle")) >= count + 2, 10, "onDispatcherIdling twice more")


def test_reentrant_calls_are_queued_and_depth_limited(setup: tuple[Farm, Path]) -> None:
    farm, log = setup
    job = farm.submit(
        title="recursive", template="recursive", paused=True, command=["true"], priority=10
    )
    farm.request("PATCH", f"/api/v1/jobs/{job['id']}", {"priority": 20})
    me = str(job["id"])
    wait_for(
        lambda: len([line for line in lines(log, "recursive") if line[0] == me]) >= 3,
        10,
        "three levels",
    )
    farm.request("GET", "/api/v1/status")  # let any fourth level show
    calls = [line for line in lines(log, "recursive") if line[0] == me]
    assert [line[1] for line in calls] == ["20", "21", "22"]  # depth 1, 2, 3
    # The depth-3 hook's edit would run hooks at depth 4: it is refused, not applied unhooked.
    assert farm.job(job["id"])["priority"] == 22
    log_text = (farm.data_dir.parent / f"{farm.data_dir.name}-dispatcher.log").read_text()
    assert "action=hook_depth_refused" in log_text and "hooks=onJobPropertiesChanged" in log_text
    # A job submitted from inside a hook gets its own submission hooks after the hook returns.
    farm.request("POST", f"/api/v1/jobs/{job['id']}/actions/resume")
    farm.wait_state(job["id"], "done")
    spawned = wait_for(lambda: lines(log, "spawned"), 10, "the child job")
    code, child_id = spawned[-1]
    assert code == "0"
    child = farm.wait_state(int(child_id), "done")
    assert (child["priority"], child["data"]) == (51, {"stamped": "yes"})
    assert child["title"].split() in lines(log, "validate")
