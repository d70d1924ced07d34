"""PyFarm's master jobs API as its documentation shows it: every request example sent
as written (JSON slips corrected), every answer compared with the documented one key by
key and type by type; then what the fields mean on a real farm, and bad input."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.farm import ApiError, Farm, wait_for
from tests.integration.hookfarm import script_json, start_farm, write_template
from tests.integration.restkit import ok

TEMPLATE = """
import MTemplateAPI


class PyFarmTest(MTemplateAPI.MTemplate):
    def __init__(self):
        MTemplateAPI.MTemplate.__init__(self)
        self.setID(77)
        self.setKey("pyfarmtest")
        self.setName("PyFarm test")
        self.setTemplateLogic(MTemplateAPI.kTemplateMultiframe)
        for platform in self.platforms():
            platform.setPlatformEnabled(1)
            platform.setEnabledByDefault(1)
            platform.setDetectionLogic(MTemplateAPI.kProcessDirect)

    def onBuildCommandLine(self, platform, job, chunk, prefs, instance):
        return "sleep " + str(job.to_dict()["data"].get("sleep", 60))

    def onCheckExitCode(self, job, chunk, prefs, exitCode):
        return MTemplateAPI.MTemplateError()


MTemplateAPI.MManager.getUniqueClass().installPyTemplate(PyFarmTest())
"""

# -- the seed's examples, JSON slips corrected (SEED-NOTES) ------------------------------
SUBMIT_BODY = {
    "end": 2.0, "title": "Test Job 2", "jobtype": "TestJobType", "data": {"foo": "bar"},
    "software_requirements": [{"software": "blender"}], "start": 1.0,
}  # fmt: skip
REQUIREMENT = {
    "min_version": None, "max_version": None, "max_version_id": None, "software_id": 1,
    "min_version_id": None, "software": "blender",
}  # fmt: skip
SUBMIT_ANSWER = {
    "time_finished": None, "time_started": None, "end": 2.0,
    "time_submitted": "2014-03-06T15:40:58.335259", "jobtype_version": 1,
    "jobtype": "TestJobType", "jobqueue": None, "start": 1.0, "priority": 0, "state": "queued",
    "parents": [], "hidden": False, "project_id": None, "ram_warning": None,
    "title": "Test Job 2", "tags": [], "user": None, "by": 1.0, "data": {"foo": "bar"},
    "ram_max": None, "notes": "", "batch": 1, "project": None, "environ": None, "requeue": 3,
    "software_requirements": [REQUIREMENT],
    "tag_requirements": [{"tag": "workstation", "negate": True}],
    "id": 2, "ram": 32, "cpus": 1, "children": [],
}  # fmt: skip
JOB_ANSWER = {
    **{key: value for key, value in SUBMIT_ANSWER.items() if key != "jobqueue"},
    "notified_users": [],
}
UPDATE_ANSWER = {
    **{key: value for key, value in SUBMIT_ANSWER.items() if key != "jobqueue"},
    "tasks_failed": [],
}
LIST_ANSWER = [{"title": "Test Job", "state": "queued", "id": 1}]
TASK = {
    "hidden": False, "id": 3, "attempts": 0, "priority": 0, "time_started": None,
    "time_submitted": "2014-03-06T15:49:51.892228", "frame": 1.0, "time_finished": None,
    "job_id": 2, "project_id": None, "state": "queued", "agent_id": None,
}  # fmt: skip
SINGLE_TASK = {
    "time_finished": None, "agent": None, "attempts": 0, "frame": 2.0, "agent_id": None,
    "job": {"id": 1, "title": "Test Job"}, "time_started": None, "state": "running",
    "project_id": None, "id": 2, "time_submitted": "2014-03-06T15:40:58.338904",
    "project": None, "parents": [], "job_id": 1, "hidden": False, "children": [],
    "priority": 0,
}  # fmt: skip
UPDATED_TASK = {**SINGLE_TASK, "failures": 0}
AGENT = {"id": "02f08241-c556-4355-9e5e-33243d8c4577", "hostname": "agent1"}
SCHEMA = {
    "batch": "INTEGER", "by": "NUMERIC(10, 4)", "cpus": "INTEGER", "data": "JSONDict",
    "end": "NUMERIC(10,4)", "environ": "JSONDict", "hidden": "BOOLEAN", "id": "INTEGER",
    "jobtype": "VARCHAR(64)", "jobtype_version": "INTEGER", "jobqueue": "VARCHAR(255)",
    "notes": "TEXT", "priority": "INTEGER", "project_id": "INTEGER", "ram": "INTEGER",
    "ram_max": "INTEGER", "ram_warning": "INTEGER", "requeue": "INTEGER",
    "start": "NUMERIC(10,4)", "state": "WorkStateEnum", "time_finished": "DATETIME",
    "time_started": "DATETIME", "time_submitted": "DATETIME", "title": "VARCHAR(255)",
    "user": "VARCHAR(255)",
}  # fmt: skip


def same_shape(answer: Any, seed: Any, where: str = "") -> None:
    """Every key of the seed is in the answer with the seed's type (int and float apart,
    bool apart). A seed null is a nullable column shown empty: the answer may hold a value
    there. Lists compare their first items when both have one."""
    if seed is None:
        return
    assert type(answer) is type(seed), f"{where or 'answer'}: {answer!r} is not like {seed!r}"
    if isinstance(seed, dict):
        for key, value in seed.items():
            assert key in answer, f"{where}.{key} is missing from {sorted(answer)}"
            same_shape(answer[key], value, f"{where}.{key}")
    elif isinstance(seed, list) and seed and answer:
        same_shape(answer[0], seed[0], f"{where}[0]")


def quoted(title: str) -> str:
    return urllib.parse.quote(title)


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    root = tmp_path_factory.mktemp("pyfarm")
    write_template(root / "templates", "pyfarmtest.py", TEMPLATE)
    farm = start_farm(root / "farm", "--templates-dir", str(root / "templates"))
    farm.client("agent1", "--software", "blender=4.0", "--software", "blender=4.1",
                "--tag", "render")  # fmt: skip
    farm.wait_nodes(1)
    wait_for(lambda: farm.request("GET", "/api/v1/software/"), 10, "blender to be reported")
    farm.request("POST", "/api/v1/jobtypes/", {"name": "TestJobType", "template": "pyfarmtest"})
    yield farm
    farm.close()


def agent1(farm: Farm) -> dict[str, Any]:
    return next(node for node in farm.nodes() if node["name"] == "agent1")


def count_jobs(farm: Farm) -> int:
    return len(farm.request("GET", "/api/v1/jobs/"))


def refused(farm: Farm, method: str, path: str, body: Any, status: int, **kw: Any) -> Any:
    with pytest.raises(ApiError) as caught:
        farm.request(method, path, body, **kw)
    assert caught.value.status == status, caught.value.body
    return caught.value.body


# -- the seed's examples --------------------------------------------------------------------
def test_schema(farm: Farm) -> None:
    assert farm.request("GET", "/api/v1/jobs/schema") == SCHEMA


def test_submit_get_list_and_tasks_as_documented(farm: Farm) -> None:
    node = agent1(farm)
    assert {"software": "blender", "version": "4.1"} in node["software"]
    assert node["tags"] == ["render"]
    job = ok(farm, "POST", "/api/v1/jobs/", SUBMIT_BODY, 201)  # the seed's status codes too
    same_shape(job, SUBMIT_ANSWER)
    assert (job["title"], job["jobtype"], job["data"]) == (
        "Test Job 2",
        "TestJobType",
        {"foo": "bar"},
    )
    assert (job["start"], job["end"], job["by"], job["template"]) == (1.0, 2.0, 1.0, "pyfarmtest")
    assert job["software_requirements"][0]["software"] == "blender"
    assert isinstance(job["software_requirements"][0]["software_id"], int)
    assert job["environ"] is None and job["tags"] == [] and job["parents"] == []
    assert job["time_submitted"].count(":") == 2 and "+" not in job["time_submitted"]
    # A live job's title is unique on this route: 409, and nothing queued.
    before = count_jobs(farm)
    body = refused(farm, "POST", "/api/v1/jobs/", SUBMIT_BODY, 409)
    assert "Test Job 2" in body["detail"] and count_jobs(farm) == before
    listed = ok(farm, "GET", "/api/v1/jobs/")
    for item in listed:
        same_shape(item, LIST_ANSWER[0])
    assert job["id"] in [item["id"] for item in listed]
    single = ok(farm, "GET", f"/api/v1/jobs/{quoted('Test Job 2')}")
    same_shape(single, JOB_ANSWER)
    assert single["notified_users"] == [] and single["id"] == job["id"]
    for path in ("tasks/", "tasks"):
        tasks = ok(farm, "GET", f"/api/v1/jobs/{quoted('Test Job 2')}/{path}")
        assert [task["frame"] for task in tasks] == [1.0, 2.0]
        for task in tasks:
            same_shape(task, TASK)
            assert task["job_id"] == job["id"] and task["job"]["title"] == "Test Job 2"
        assert tasks[1]["id"] == tasks[0]["id"] + 1
    # A second job's tasks follow the first's: global ids.
    other = farm.request("POST", "/api/v1/jobs/", {**SUBMIT_BODY, "title": "Test Job 3"})
    first = farm.request("GET", f"/api/v1/jobs/{other['id']}/tasks/")[0]["id"]
    assert first > tasks[1]["id"]
    task = ok(farm, "GET", f"/api/v1/jobs/{quoted('Test Job 2')}/tasks/{tasks[1]['id']}")
    same_shape(task, SINGLE_TASK)
    assert task["frame"] == 2.0 and task["job"] == {"id": job["id"], "title": "Test Job 2"}
    for done in (job, other):  # their tasks sleep: free the node for the next tests
        assert ok(farm, "DELETE", f"/api/v1/jobs/{done['id']}", status=204) == ""
        refused(farm, "GET", f"/api/v1/jobs/{done['id']}", None, 404)


def test_an_agent_reports_a_running_task(farm: Farm) -> None:
    job = farm.request(
        "POST", "/api/v1/jobs/", {**SUBMIT_BODY, "title": "Runs", "start": 1.0, "end": 1.0}
    )
    running = wait_for(
        lambda: [t for t in farm.request("GET", f"/api/v1/jobs/{job['id']}/tasks/") if t["state"] == "running"],
        20, "the task to run",
    )[0]  # fmt: skip
    assert running["agent"]["hostname"] == "agent1" and running["agent_id"] == agent1(farm)["uuid"]
    for method in ("POST", "PUT"):
        answer = ok(
            farm, method, f"/api/v1/jobs/{job['id']}/tasks/{running['id']}", {"state": "running"}
        )
        same_shape(answer, UPDATED_TASK)
        assert answer["state"] == "running" and answer["attempts"] == 1
    # A task runs only when the dispatcher assigns it: a queued one cannot be set running.
    queued = farm.request(
        "POST",
        "/api/v1/jobs/",
        {**SUBMIT_BODY, "title": "Held", "tag_requirements": [{"tag": "render", "negate": True}]},
    )
    task = farm.request("GET", f"/api/v1/jobs/{queued['id']}/tasks/")[0]
    refused(
        farm, "POST", f"/api/v1/jobs/{queued['id']}/tasks/{task['id']}", {"state": "running"}, 409
    )
    done = farm.request(
        "POST", f"/api/v1/jobs/{queued['id']}/tasks/{task['id']}", {"state": "done"}
    )
    assert done["state"] == "done"
    farm.request("DELETE", f"/api/v1/jobs/{job['id']}")


def test_update_with_a_new_frame_range_creates_and_deletes_tasks(farm: Farm) -> None:
    job = farm.request("POST", "/api/v1/jobs/", {
        "title": "Test Job", "jobtype": "TestJobType", "start": 1.0, "end": 4.0,
        "data": {"foo": "bar"}, "software_requirements": [{"software": "blender"}],
        "tag_requirements": [{"tag": "workstation", "negate": True}], "paused": True,
    })  # fmt: skip
    before = {t["frame"]: t["id"] for t in farm.request("GET", f"/api/v1/jobs/{job['id']}/tasks/")}
    answer = ok(farm, "PUT", f"/api/v1/jobs/{quoted('Test Job')}", {"start": 2.0})  # 200
    same_shape(answer, UPDATE_ANSWER)
    assert (answer["start"], answer["end"]) == (2.0, 4.0)
    after = {t["frame"]: t["id"] for t in farm.request("GET", f"/api/v1/jobs/{job['id']}/tasks")}
    assert after == {frame: before[frame] for frame in (2.0, 3.0, 4.0)}
    refused(farm, "GET", f"/api/v1/jobs/{job['id']}/tasks/{before[1.0]}", None, 404)
    grown = ok(farm, "POST", f"/api/v1/jobs/{job['id']}", {"end": 6.0, "by": 1.0})
    same_shape(grown, UPDATE_ANSWER)
    tasks = {t["frame"]: t["id"] for t in farm.request("GET", f"/api/v1/jobs/{job['id']}/tasks/")}
    assert sorted(tasks) == [2.0, 3.0, 4.0, 5.0, 6.0]
    assert tasks[2.0] == before[2.0] and tasks[5.0] not in before.values()
    assert grown["chunks"]["total"] == 5 and grown["chunks"]["queued"] == 5
    # A new `by` alone: every other frame's task is deleted, the kept ones keep their ids.
    stepped = ok(farm, "POST", f"/api/v1/jobs/{job['id']}", {"by": 2.0})
    assert (stepped["start"], stepped["end"], stepped["by"]) == (2.0, 6.0, 2.0)
    kept = {t["frame"]: t["id"] for t in ok(farm, "GET", f"/api/v1/jobs/{job['id']}/tasks/")}
    assert kept == {frame: tasks[frame] for frame in (2.0, 4.0, 6.0)}
    for frame in (3.0, 5.0):
        refused(farm, "GET", f"/api/v1/jobs/{job['id']}/tasks/{tasks[frame]}", None, 404)
    patched = farm.request(
        "PATCH", f"/api/v1/jobs/{job['id']}", {"end": 3.0, "by": 1.0, "priority": 7}
    )
    assert (patched["end"], patched["priority"], patched["chunks"]["total"]) == (3.0, 7, 2)
    farm.request("DELETE", f"/api/v1/jobs/{job['id']}")
    refused(farm, "GET", f"/api/v1/jobs/{job['id']}", None, 404)


def test_failed_on_agents_and_letting_a_task_run_there_again(farm: Farm, tmp_path: Path) -> None:
    flag = tmp_path / "may-succeed"
    job = farm.submit(title="fails on agent1", requeue=9, command=["sh", "-c", f"test -e {flag}"])
    task = farm.request("GET", f"/api/v1/jobs/{job['id']}/tasks/")[0]["id"]
    path = f"/api/v1/jobs/{job['id']}/tasks/{task}/failed_on_agents/"
    node = agent1(farm)
    listed = wait_for(lambda: ok(farm, "GET", path), 20, "a failure on agent1")
    same_shape(listed[0], AGENT)
    assert listed == [{"id": node["uuid"], "hostname": "agent1"}]
    # Three failures exclude agent1 from the job: the task waits.
    wait_for(lambda: job["id"] in agent1(farm)["excluded_jobs"], 30, "agent1's exclusion")
    reasons = farm.request("GET", f"/api/v1/jobs/{job['id']}/why")["reasons"]
    assert any("excluded" in reason for reason in reasons), reasons
    flag.touch()
    assert ok(farm, "DELETE", path + node["uuid"], status=204) == ""
    assert farm.request("GET", path) == []
    assert farm.wait_state(job["id"], "done", timeout_s=20)["state"] == "done"
    added = ok(farm, "POST", path, {"id": node["uuid"]}, 201)
    same_shape(added, AGENT)
    assert added == {"id": node["uuid"], "hostname": "agent1"}
    assert farm.request("GET", path) == [added]


# -- software and tag requirements -----------------------------------------------------------
def test_requirements_decide_which_node_runs_a_job(farm: Farm) -> None:
    missing = refused(farm, "POST", "/api/v1/jobs/", {**SUBMIT_BODY, "title": "maya job",
                      "software_requirements": [{"software": "maya"}]}, 404)  # fmt: skip
    assert "maya" in missing["detail"]
    refused(farm, "POST", "/api/v1/jobs/", {**SUBMIT_BODY, "title": "old blender",
            "software_requirements": [{"software": "blender", "max_version": "3.0"}]}, 404)  # fmt: skip
    farm.request("POST", "/api/v1/software/", {"software": "blender", "versions": ["3.0"]})
    old = farm.request("POST", "/api/v1/jobs/", {**SUBMIT_BODY, "title": "old blender",
                       "software_requirements": [{"software": "blender", "max_version": "3.0"}]})  # fmt: skip
    tagged = farm.request("POST", "/api/v1/jobs/", {**SUBMIT_BODY, "title": "no render nodes",
                          "tag_requirements": [{"tag": "render", "negate": True}]})  # fmt: skip
    fits = farm.request("POST", "/api/v1/jobs/", {**SUBMIT_BODY, "title": "new blender",
                        "data": {"sleep": 0}, "tag_requirements": [{"tag": "render"}],
                        "software_requirements": [{"software": "blender", "min_version": "4.1"}]})  # fmt: skip
    assert fits["software_requirements"][0]["min_version_id"] is not None
    farm.wait_state(fits["id"], "done", timeout_s=30)
    why_old = farm.request("GET", f"/api/v1/jobs/{old['id']}/why")["reasons"]
    assert any("lacks software blender <= 3.0" in reason for reason in why_old), why_old
    why_tag = farm.request("GET", f"/api/v1/jobs/{tagged['id']}/why")["reasons"]
    assert any("has tag render" in reason for reason in why_tag), why_tag
    # `cpus`: a node with fewer CPUs than the job asks for never runs it.
    greedy = farm.request("POST", "/api/v1/jobs/", {**SUBMIT_BODY, "title": "too many cpus",
                          "data": {"sleep": 0}, "cpus": 65536})  # fmt: skip
    assert greedy["cpus"] == 65536
    why_cpus = wait_for(
        lambda: [r for r in farm.request("GET", f"/api/v1/jobs/{greedy['id']}/why")["reasons"]
                 if "needs 65536 CPUs" in r],
        10, "the CPU reason",
    )  # fmt: skip
    assert why_cpus
    # `jobtype` may also name a template by its key, without a registered job type.
    by_key = farm.request("POST", "/api/v1/jobs/", {**SUBMIT_BODY, "title": "by template key",
                          "jobtype": "pyfarmtest", "data": {"sleep": 0}})  # fmt: skip
    assert (by_key["jobtype"], by_key["template"]) == ("pyfarmtest", "pyfarmtest")
    farm.wait_state(by_key["id"], "done", timeout_s=30)
    # A finished job's title is free again on this route (only live titles are unique).
    reused = ok(farm, "POST", "/api/v1/jobs/", {**SUBMIT_BODY, "title": "by template key",
                "jobtype": "pyfarmtest", "data": {"sleep": 0}}, 201)  # fmt: skip
    assert reused["id"] != by_key["id"]
    farm.wait_state(reused["id"], "done", timeout_s=30)
    for job in (old, tagged, greedy):
        assert farm.job(job["id"])["chunks"]["running"] == 0
        farm.request("DELETE", f"/api/v1/jobs/{job['id']}")


def test_parents_children_and_pyfarm_fields(farm: Farm) -> None:
    parent = farm.request(
        "POST", "/api/v1/jobs/", {**SUBMIT_BODY, "title": "parent", "paused": True}
    )
    child = farm.request("POST", "/api/v1/jobs/", {**SUBMIT_BODY, "title": "child", "paused": True})
    middle = farm.request("POST", "/api/v1/jobs/", {
        **SUBMIT_BODY, "title": "middle", "parents": [parent["id"]], "children": [child["id"]],
        "ram": 64, "ram_warning": 100, "ram_max": 200, "cpus": 1, "hidden": True, "priority": 9,
        "environ": {"A": "1"}, "notes": "n", "project_id": 4, "batch": 2, "requeue": 1,
        "jobtype_version": 2, "notified_users": ["admin"], "tags": ["shot010"], "paused": True,
        "jobqueue": "render",
    })  # fmt: skip
    assert middle["parents"] == [{"id": parent["id"], "title": "parent"}]
    assert farm.job(child["id"])["parents"] == [{"id": middle["id"], "title": "middle"}]
    assert farm.job(parent["id"])["children"] == [{"id": middle["id"], "title": "middle"}]
    assert (middle["ram"], middle["memory_mb"], middle["ram_warning"], middle["ram_max"]) == (
        64,
        64,
        100,
        200,
    )
    assert (
        middle["hidden"],
        middle["environ"],
        middle["project_id"],
        middle["jobtype_version"],
    ) == (True, {"A": "1"}, 4, 2)
    assert (middle["tags"], middle["batch"], middle["requeue"]) == (["shot010"], 2, 1)
    assert (middle["jobqueue"], middle["pools"]) == ("render", ["render"])  # a pool
    assert [(e["username"], e["on_success"], e["on_failure"], e["on_deletion"])
            for e in middle["notified_users"]] == [("admin", True, True, False)]  # fmt: skip
    reasons = farm.request("GET", f"/api/v1/jobs/{child['id']}/why")["reasons"]
    assert any(f"waits for job {middle['id']}" in reason for reason in reasons), reasons
    for job in (child, middle, parent):
        farm.request("DELETE", f"/api/v1/jobs/{job['id']}")


# -- bad input ------------------------------------------------------------------------------
def test_bad_submits_change_nothing(farm: Farm) -> None:
    before = count_jobs(farm)
    for body, status, field in (
        ({**SUBMIT_BODY, "title": "x1", "colour": "red"}, 400, "colour"),
        ({**SUBMIT_BODY, "title": "x2", "start": "soon"}, 400, "start"),
        ({**SUBMIT_BODY, "title": "x3", "ram": "lots"}, 400, "ram"),
        ({**SUBMIT_BODY, "title": "x4", "software_requirements": [{"name": "blender"}]}, 400, "software_requirements.0.software"),
        ({**SUBMIT_BODY, "title": "x5", "tag_requirements": [{"tag": "a", "negate": "maybe"}]}, 400, "tag_requirements.0.negate"),
        ({**SUBMIT_BODY, "title": "x6", "jobtype": "NoSuchType"}, 400, "jobtype"),
        ({**SUBMIT_BODY, "title": "x7", "parents": [999999]}, 404, None),
        ({**SUBMIT_BODY, "title": "x8", "children": [999999]}, 404, None),
        ({**SUBMIT_BODY, "title": "x9", "ram_warning": 9, "ram_max": 1}, 400, "ram_warning"),
        ({**SUBMIT_BODY, "title": "x10", "software_requirements": [{"software": "blender", "min_version": "9.9"}]}, 404, None),
        ({**SUBMIT_BODY, "title": "x11", "notified_users": ["nobody"]}, 404, None),
        ({**SUBMIT_BODY, "title": "x12", "notified_users": [{"username": "admin", "x": 1}]}, 400, "notified_users"),
    ):  # fmt: skip
        problem = refused(farm, "POST", "/api/v1/jobs/", body, status)
        if field is not None:
            assert problem.get("field") == field, problem
    refused(farm, "POST", "/api/v1/jobs/", SUBMIT_BODY, 401, token="")
    assert count_jobs(farm) == before


def test_bad_updates_tasks_and_agents_change_nothing(farm: Farm) -> None:
    job = farm.request(
        "POST", "/api/v1/jobs/", {**SUBMIT_BODY, "title": "untouched", "paused": True}
    )
    task = farm.request("GET", f"/api/v1/jobs/{job['id']}/tasks/")[0]["id"]
    for body, field in (({"colour": "red"}, "colour"), ({"start": "x"}, "start"),
                        ({"end": 0.5}, "end"), ({"by": -1}, "by"), ({"hidden": [1]}, "hidden")):  # fmt: skip
        problem = refused(farm, "POST", f"/api/v1/jobs/{job['id']}", body, 400)
        assert problem.get("field") == field, problem
    refused(farm, "PUT", "/api/v1/jobs/999999", {"start": 2.0}, 404)
    refused(farm, "GET", f"/api/v1/jobs/{job['id']}/tasks/999999", None, 404)
    refused(farm, "GET", f"/api/v1/jobs/{job['id']}/tasks/abc", None, 404)
    refused(
        farm, "POST", f"/api/v1/jobs/{job['id']}/tasks/{task}", {"state": "running", "x": 1}, 400
    )
    refused(farm, "POST", f"/api/v1/jobs/{job['id']}/tasks/{task}", {"state": "exploded"}, 400)
    refused(farm, "POST", f"/api/v1/jobs/{job['id']}/tasks/{task}", {"state": 3}, 400)
    agents = f"/api/v1/jobs/{job['id']}/tasks/{task}/failed_on_agents/"
    refused(farm, "POST", agents, {"id": "no-such-agent"}, 404)
    refused(farm, "POST", agents, {"uuid": agent1(farm)["uuid"]}, 400)
    refused(farm, "DELETE", agents + "no-such-agent", None, 404)
    refused(farm, "GET", f"/api/v1/jobs/{job['id']}/tasks/999999/failed_on_agents/", None, 404)
    refused(farm, "GET", agents, None, 401, token="")
    assert farm.request("GET", agents) == []
    # A user who may submit but not manage others' jobs, nor administer.
    assert script_json(farm, """
        import json, MDispatcherAPI
        user = MDispatcherAPI.MUser("carol")
        user.setPassword("pw-carol-1")
        user.setPermissions("submit,manage_own")
        print(json.dumps(MDispatcherAPI.userAdd(user).getErrorCode()))
    """) == 0  # fmt: skip
    token = farm.request(
        "POST", "/api/v1/login", {"username": "carol", "password": "pw-carol-1"}, token=""
    )["token"]
    refused(farm, "POST", f"/api/v1/jobs/{job['id']}", {"start": 2.0}, 403, token=token)
    refused(
        farm, "POST", f"/api/v1/jobs/{job['id']}/tasks/{task}", {"state": "done"}, 403, token=token
    )
    refused(farm, "POST", agents, {"id": agent1(farm)["uuid"]}, 403, token=token)
    refused(farm, "POST", "/api/v1/software/", {"software": "houdini"}, 403, token=token)
    refused(
        farm, "POST", "/api/v1/jobtypes/", {"name": "T2", "template": "cmdline"}, 403, token=token
    )
    refused(farm, "POST", "/api/v1/software/", {"software": "houdini", "versions": [1]}, 400)
    refused(farm, "POST", "/api/v1/jobtypes/", {"name": "T2", "template": "nope"}, 400)
    after = farm.job(job["id"])
    assert (after["start"], after["end"], after["chunks"]["done"]) == (1.0, 2.0, 0)
    assert farm.request("GET", agents) == []
    assert "houdini" not in [item["software"] for item in farm.request("GET", "/api/v1/software/")]
