"""Rules each operation keeps whatever front calls it: a job deleted while its onEditJob
runs stays deleted; no folder can be moved inside itself; names several things bear
are answered with their ids; every job and node has a stable UUID."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.farm import ApiError, Farm, wait_for
from tests.integration.hookfarm import TEMPLATE_HEAD, script_json, start_farm, write_template

pytestmark = pytest.mark.integration

SLOW_EDIT = """
import os

class SlowEdit(Base):
    def __init__(self):
        self.setup(77, "slowedit")

    def onEditJob(self, job):
        note(MARKS, "editing", job.getJobId())
        time.sleep(1.5)
        job.setNotes("seen by onEditJob")

    def onJobPropertiesChanged(self, job):
        note(MARKS, "changed", job.getJobId())

MTemplateAPI.MManager.getUniqueClass().installPyTemplate(SlowEdit())
"""


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    root = tmp_path_factory.mktemp("rules")
    marks = root / "marks.txt"
    write_template(
        root / "templates", "slowedit.py", TEMPLATE_HEAD + f"MARKS = {str(marks)!r}\n" + SLOW_EDIT
    )
    farm = start_farm(
        root / "farm", "--templates-dir", str(root / "templates"), "--hook-timeout-s", "5"
    )
    farm.marks = marks  # type: ignore[attr-defined]
    yield farm
    farm.close()


def _marks(farm: Farm) -> list[str]:
    path: Path = farm.marks  # type: ignore[attr-defined]
    return path.read_text().splitlines() if path.exists() else []


def _status(call: Any) -> int:
    try:
        call()
    except ApiError as exc:
        return exc.status
    return 200


def test_a_job_deleted_while_its_edit_hook_runs_stays_deleted(farm: Farm) -> None:
    job = farm.submit(title="doomed", template="slowedit", command=["true"], paused=True)
    answer: dict[str, Any] = {}

    def edit() -> None:
        try:
            answer["view"] = farm.request("PATCH", f"/api/v1/jobs/{job['id']}", {"priority": 61})
        except ApiError as exc:
            answer["error"] = exc

    editing = threading.Thread(target=edit)
    editing.start()
    wait_for(lambda: f"editing {job['id']}" in _marks(farm), 10, "onEditJob to start")
    farm.request("DELETE", f"/api/v1/jobs/{job['id']}")
    editing.join(20)
    assert "error" in answer, f"the edit of a deleted job was answered {answer}"
    assert answer["error"].status == 404 and "deleted" in answer["error"].body["detail"]
    time.sleep(0.5)  # any notification would have been queued by now
    assert f"changed {job['id']}" not in _marks(farm)
    farm.stop()
    farm.start()
    assert _status(lambda: farm.job(job["id"])) == 404, "the deleted job came back after a restart"


def test_a_folder_never_moves_inside_itself(farm: Farm) -> None:
    top = farm.submit(title="top", kind="folder")
    inner = farm.submit(title="inner", kind="folder", parent=top["id"])
    job = farm.submit(title="leaf", parent=inner["id"], command=["true"], paused=True)
    for parent, words in ((inner["id"], "inside job"), (top["id"], "the job itself")):
        with pytest.raises(ApiError) as refused:
            farm.request("PATCH", f"/api/v1/jobs/{top['id']}", {"parent": parent})
        assert refused.value.status == 400 and refused.value.body["field"] == "parent"
        assert f"folder {parent} is {words}" in refused.value.body["detail"]
    with pytest.raises(ApiError) as not_folder:
        farm.request("PATCH", f"/api/v1/jobs/{top['id']}", {"parent": job["id"]})
    assert f"job {job['id']} is a job, not a folder" in not_folder.value.body["detail"]
    codes = script_json(
        farm,
        f"""
        import json, MDispatcherAPI
        reparent = MDispatcherAPI.jobReparent({top["id"]}, {inner["id"]})
        err, folder = MDispatcherAPI.jobGet({top["id"]})
        data = folder.to_dict(); data["parent"] = {inner["id"]}
        edit = MDispatcherAPI.jobEdit(MDispatcherAPI.MJob(data))
        print(json.dumps([reparent.getErrorCode(), reparent.getDescription(), edit.getErrorCode()]))
        """,
    )
    assert codes[0] == 2 and "inside job" in codes[1] and codes[2] == 2, codes
    assert farm.job(top["id"])["parent"] == -1 and farm.job(inner["id"])["parent"] == top["id"]
    # Moving down the tree the other way is fine, and the folders can still be emptied.
    farm.request("PATCH", f"/api/v1/jobs/{job['id']}", {"parent": top["id"]})
    for item in (job, inner, top):
        farm.request("DELETE", f"/api/v1/jobs/{item['id']}")


def test_a_snapshot_with_a_folder_cycle_is_refused(farm: Farm) -> None:
    a = farm.submit(title="a", kind="folder")
    b = farm.submit(title="b", kind="folder", parent=a["id"])
    exported = script_json(
        farm,
        """
        import json, MDispatcherAPI
        text = MDispatcherAPI.MStringRef()
        err = MDispatcherAPI.dbExportQueueSQL(text)
        print(json.dumps(text.getString()))
        """,
    )
    cyclic = exported.replace('"parent":-1', f'"parent":{b["id"]}', 1)
    assert cyclic != exported
    result = script_json(
        farm,
        f"""
        import json, MDispatcherAPI
        err = MDispatcherAPI.dbImportQueueSQL({cyclic!r})
        print(json.dumps([err.getErrorCode(), err.getDescription()]))
        """,
    )
    assert result[0] == 2 and "folder cycle" in result[1], result
    assert farm.job(a["id"])["parent"] == -1
    for item in (b, a):
        farm.request("DELETE", f"/api/v1/jobs/{item['id']}")


def test_every_job_and_node_has_a_stable_uuid(farm: Farm) -> None:
    first = farm.submit(title="twin", command=["true"], paused=True)
    # The PyFarm route keeps live titles unique; an edit may give a second job the title.
    second = farm.submit(title="twin 2", command=["true"], paused=True)
    second = farm.request("PATCH", f"/api/v1/jobs/{second['id']}", {"title": "twin"})
    assert first["uuid"] != second["uuid"] and len(first["uuid"]) == 36
    with pytest.raises(ApiError) as ambiguous:
        farm.job("twin")  # type: ignore[arg-type]
    assert ambiguous.value.status == 409
    assert str(first["id"]) in ambiguous.value.body["detail"]
    assert str(second["id"]) in ambiguous.value.body["detail"]
    through_api = script_json(
        farm,
        f"""
        import json, MDispatcherAPI
        err, job = MDispatcherAPI.jobGet({first["id"]})
        print(json.dumps(job.to_dict().get("uuid")))
        """,
    )
    assert through_api == first["uuid"]
    farm.client("uuidnode")
    node = farm.wait_nodes(1)[0]
    farm.stop()
    farm.start()
    assert farm.job(first["id"])["uuid"] == first["uuid"]
    again = wait_for(lambda: [n for n in farm.nodes() if n["id"] == node["id"]], 10, "the node")
    assert again[0]["uuid"] == node["uuid"] and len(node["uuid"]) == 36
    for item in (first, second):
        farm.request("DELETE", f"/api/v1/jobs/{item['id']}")
