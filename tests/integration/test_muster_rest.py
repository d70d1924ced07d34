"""Muster 9's REST API on a real farm: a pipeline logs in, lists the templates and submits
a job exactly as OpenPype's Muster plug-in does; the job renders on a real render client
and its post job action runs after it, as a job of its own. Then the queue actions, and
bad input: the right Code, the HTTP status equal to it, and nothing changed."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.farm import Farm
from tests.integration.hookfarm import script_json, start_farm, write_template

# A Maya-like template: each chunk writes what it was given (attributes, environment) to a
# JSON file in the job's output folder, the way a renderer writes its frames there.
MAYA_LIKE = '''
import json, shlex, sys
import MTemplateAPI

RENDER = r"""
import json, os, sys
out, start, end, info = sys.argv[1:5]
record = dict(json.loads(info), start=start, end=end,
              var=os.environ.get("MUSTER_TEST_VAR"), quoted=os.environ.get("QUOTED"))
with open(os.path.join(out, "chunk_%s_%s.json" % (start, end)), "w") as handle:
    json.dump(record, handle)
"""


class MayaLike(MTemplateAPI.MTemplate):
    def __init__(self):
        MTemplateAPI.MTemplate.__init__(self)
        self.setID(101)
        self.setKey("mayaish")
        self.setName("Maya Arnold")
        self.setTemplateLogic(MTemplateAPI.kTemplateMultiframe)
        layer = MTemplateAPI.MTemplateItemString("MAYALAYER", "Layer", "render layer", "", 0, 0, 1)
        self.addSubmissionItem(layer)
        self.addMapping("MAYALAYER", "render_layer")
        for platform in self.platforms():
            platform.setPlatformEnabled(1)

    def onBuildCommandLine(self, platform, job, chunk, prefs, instance):
        data = job.to_dict()["data"]
        names = ("job_file", "job_project", "ADD_FLAGS", "MAYADIGITS", "render_layer")
        info = json.dumps({name: data.get(name) for name in names})
        return shlex.join([sys.executable, "-c", RENDER, data["output_folder"],
                           "{start}", "{end}", info])


MTemplateAPI.MManager.getUniqueClass().installPyTemplate(MayaLike())
'''

ADD_USERS = """
import json, MDispatcherAPI
codes = []
for name, permissions in (("td", "submit,manage_own"), ("viewer", "")):
    user = MDispatcherAPI.MUser(name)
    user.setPassword(name + " secret")
    user.setPermissions(permissions)
    codes.append(MDispatcherAPI.userAdd(user).getErrorCode())
print(json.dumps(codes))
"""


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    root = tmp_path_factory.mktemp("muster-rest")
    write_template(root / "templates", "mayaish.py", MAYA_LIKE)
    # Adding two users hashes two passwords: more than the fast hook time limit under load.
    farm = start_farm(
        root / "farm", "--templates-dir", str(root / "templates"), "--hook-timeout-s", "30"
    )
    farm.client("render1", "--pool", "maya", instances=2)
    farm.wait_nodes(2)
    assert script_json(farm, ADD_USERS) == [0, 0]
    yield farm
    farm.close()


def muster(
    base: str, method: str, path: str, params: dict[str, Any], body: Any = None, raw: bytes = b""
) -> tuple[int, dict[str, Any]]:
    """A Muster REST call as a pipeline makes it: parameters in the query, JSON body."""
    url = f"{base}{path}?{urllib.parse.urlencode(params)}"
    data = json.dumps(body).encode() if body is not None else (raw or None)
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode()
    answer = json.loads(text)
    # Every answer, errors too, is Muster's envelope with the HTTP status as its Code.
    assert set(answer) == {"ResponseStatus", "ResponseData"}, answer
    assert answer["ResponseStatus"]["Code"] == status, answer
    assert isinstance(answer["ResponseStatus"]["Time"], str) and answer["ResponseStatus"]["Time"]
    assert isinstance(answer["ResponseStatus"]["Description"], str)
    return status, answer


def login(farm: Farm, user: str, base: str | None = None) -> str:
    status, answer = muster(
        base or farm.url, "POST", "/api/login", {"username": user, "password": f"{user} secret"}
    )
    assert status == 200, answer
    return str(answer["ResponseData"]["authToken"])


def compat_url(farm: Farm) -> str:
    state = json.loads((farm.data_dir / "dispatcher.json").read_text())
    return f"http://127.0.0.1:{state['compat_port']}"


def openpype_job(**changes: Any) -> dict[str, Any]:
    """The job object of OpenPype's Muster submission, every key it sends."""
    environment = {"MUSTER_TEST_VAR": "from muster, with a comma", "QUOTED": "it's 'quoted'"}
    job: dict[str, Any] = {
        "jobName": "shot010.ma - renderingMain",
        "templateId": 101,
        "chunksInterleave": 2,
        "chunksPriority": "0",
        "chunksTimeoutValue": 320,
        "department": "lighting",
        "dependIds": [""],
        "dependLinkMode": 0,
        "dependMode": 0,
        "emergencyQueue": False,
        "excludedPools": [""],
        "includedPools": ["maya"],
        "packetSize": 4,
        "packetType": 1,
        "priority": 1,
        "jobId": -1,
        "startOn": 0,
        "parentId": -1,
        "project": "myproject",
        "shot": "sh010",
        "camera": "renderCam",
        "maximumInstances": 0,
        "assignedInstances": 0,
        "attributes": {
            "environmental_variables": {
                "value": ", ".join(f"{key!s}={value!r}" for key, value in environment.items()),
                "state": True,
                "subst": False,
            },
            "memo": {"value": "first lighting pass", "state": True, "subst": False},
            "frames_range": {"value": "1-8", "state": True, "subst": False},
            "job_file": {"value": "/projects/myproject/shot010.ma", "state": True, "subst": True},
            "job_project": {"value": "/projects/myproject", "state": True, "subst": True},
            "output_folder": {"value": "/tmp/none", "state": True, "subst": True},
            "post_job_action": {"value": "", "state": False, "subst": True},
            "MAYADIGITS": {"value": 1, "state": True, "subst": False},
            "ARNOLDMODE": {"value": "0", "state": True, "subst": False},
            "ABORTRENDER": {"value": "0", "state": True, "subst": True},
            "ARNOLDLICENSE": {"value": "0", "state": False, "subst": False},
            "ADD_FLAGS": {"value": "-rl rs_beauty", "state": True, "subst": True},
            "MAYALAYER": {"value": "rs_beauty", "state": True, "subst": False},
        },
    }
    job.update(changes)
    return job


def submit(farm: Farm, token: str, job: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    body = {"RequestData": {"platform": 0, "job": job}}
    return muster(
        farm.url, "POST", "/api/queue/actions", {"authToken": token, "name": "submit"}, body
    )


def job_ids(farm: Farm) -> list[int]:
    return sorted(job["id"] for job in farm.request("GET", "/api/v1/jobs/"))


def test_openpype_submission_renders_and_its_post_job_action_runs_after(
    farm: Farm, tmp_path: Path
) -> None:
    # Logging in and listing the templates, on the compat port as on the HTTP port.
    token = login(farm, "td", base=compat_url(farm))
    status, answer = muster(
        compat_url(farm), "POST", "/api/templates/list", {"authToken": token, "select": "name"}
    )
    assert status == 200 and answer["ResponseStatus"]["Description"] == "OK"
    templates = {t["name"]: t["id"] for t in answer["ResponseData"]["templates"]}
    assert templates["Maya Arnold"] == 101 and templates["Command line"] == 1
    assert all(set(t) == {"name", "id"} for t in answer["ResponseData"]["templates"])

    out = tmp_path / "renders"
    out.mkdir()
    marker = tmp_path / "post_job_action.txt"
    post_action = (
        f"{sys.executable} -c \"import os, sys; open(sys.argv[1], 'w').write("
        f"','.join(sorted(os.listdir(sys.argv[2]))) + '|' + os.environ['MUSTER_TEST_VAR'])\" "
        f"{marker} {out}"
    )
    attributes = openpype_job()["attributes"]
    attributes["output_folder"]["value"] = str(out)
    attributes["post_job_action"] = {"value": post_action, "state": True, "subst": True}
    status, answer = submit(farm, token, openpype_job(attributes=attributes))
    assert status == 200, answer
    job_id, post_id = answer["ResponseData"]["jobId"], answer["ResponseData"]["postJobActionId"]

    # The job as Corral holds it: every Muster key has landed where it belongs.
    job = farm.job(job_id)
    assert (job["title"], job["template"], job["user"]) == (
        "shot010.ma - renderingMain",
        "mayaish",
        "td",
    )
    assert (job["start"], job["end"], job["batch"], job["chunks"]["total"]) == (1, 8, 4, 2)
    assert (job["priority"], job["pools"], job["excluded_pools"]) == (1, ["maya"], [])
    assert (job["project"], job["department"], job["notes"]) == (
        "myproject",
        "lighting",
        "first lighting pass",
    )
    assert job["environ"] == {
        "MUSTER_TEST_VAR": "from muster, with a comma",
        "QUOTED": "it's 'quoted'",
    }
    assert job["depends_on"] == [] and job["parent"] == -1
    data = job["data"]
    assert data["MAYADIGITS"] == 1 and data["ADD_FLAGS"] == "-rl rs_beauty"
    assert "ARNOLDLICENSE" not in data  # state false: disabled
    assert data["render_layer"] == "rs_beauty"  # the template maps MAYALAYER to it
    assert data["muster"]["shot"] == "sh010" and data["muster"]["chunksTimeoutValue"] == 320
    assert "job_file" in data["muster"]["subst"] and "MAYADIGITS" not in data["muster"]["subst"]

    post = farm.job(post_id)
    assert (post["template"], post["user"], post["chunks"]["total"]) == ("cmdline", "td", 1)
    assert post["depends_on"] == [{"job": job_id, "mode": "always"}]
    assert post["command"][0] == sys.executable and post["command"][-2:] == [str(marker), str(out)]

    # It renders on the render client; the post job action runs after it, on a node too.
    done = farm.wait_state(job_id, "done", timeout_s=60)
    chunks = sorted(out.glob("chunk_*.json"))
    assert [path.name for path in chunks] == ["chunk_1_4.json", "chunk_5_8.json"]
    record = json.loads(chunks[0].read_text())
    assert record["job_file"] == "/projects/myproject/shot010.ma"
    assert record["ADD_FLAGS"] == "-rl rs_beauty" and record["render_layer"] == "rs_beauty"
    assert (record["var"], record["quoted"]) == ("from muster, with a comma", "it's 'quoted'")
    finished = farm.wait_state(post_id, "done", timeout_s=60)
    assert marker.read_text() == "chunk_1_4.json,chunk_5_8.json|from muster, with a comma"
    assert finished["time_started"] >= done["time_finished"]
    post_chunk = farm.chunks(post_id)[0]
    assert post_chunk["state"] == "done" and post_chunk["node"].startswith("render1")


def test_post_job_action_runs_after_a_failed_job_too(farm: Farm, tmp_path: Path) -> None:
    token = login(farm, "td")
    marker = tmp_path / "after-failure.txt"
    attributes = openpype_job()["attributes"]
    attributes["output_folder"]["value"] = str(tmp_path / "missing" / "folder")  # chunks fail
    attributes["frames_range"]["value"] = "1-1"
    attributes["post_job_action"] = {
        "value": f"{sys.executable} -c \"open('{marker}', 'w').write('ran')\"",
        "state": True,
        "subst": False,
    }
    status, answer = submit(farm, token, openpype_job(attributes=attributes))
    assert status == 200, answer
    post_id = answer["ResponseData"]["postJobActionId"]
    farm.request("PATCH", f"/api/v1/jobs/{answer['ResponseData']['jobId']}", {"requeue": 0})
    farm.wait_state(answer["ResponseData"]["jobId"], "failed", timeout_s=60)
    farm.wait_state(post_id, "done", timeout_s=60)
    assert marker.read_text() == "ran"

    # Reinitialising the failed job (paused first, so that it waits) queues its chunk again.
    job_id = answer["ResponseData"]["jobId"]
    params = {"authToken": token, "jobId": str(job_id)}
    for name in ("pause", "reinit"):
        status, done = muster(farm.url, "POST", "/api/queue/actions", {**params, "name": name})
        assert status == 200, done
    assert done["ResponseData"]["jobs"][0]["jobId"] == job_id
    again = farm.job(job_id)
    assert again["state"] == "paused" and again["time_finished"] is None
    assert (again["chunks"]["failed"], again["chunks"]["queued"]) == (0, 1)
    assert farm.chunks(job_id)[0]["state"] == "queued"
    farm.request("DELETE", f"/api/v1/jobs/{job_id}")


def test_queue_actions_list_pause_resume_reinit_delete(farm: Farm) -> None:
    token = login(farm, "td")
    ids = []
    for number in range(3):
        # A pool no node offers: the jobs stay queued while the actions are tried.
        status, answer = submit(
            farm, token, openpype_job(jobName=f"queued {number}", includedPools=["nowhere"])
        )
        assert status == 200, answer
        assert "postJobActionId" not in answer["ResponseData"]  # its state was false
        ids.append(answer["ResponseData"]["jobId"])
    # Muster allows a live job's name twice (only PyFarm's route keeps live titles unique).
    status, twin = submit(farm, token, openpype_job(jobName="queued 0", includedPools=["nowhere"]))
    assert status == 200 and twin["ResponseData"]["jobId"] not in ids, twin
    farm.request("DELETE", f"/api/v1/jobs/{twin['ResponseData']['jobId']}")
    # A dependency, a folder and an excluded pool land on the job as Corral holds it.
    folder = farm.request("POST", "/api/v1/folders/", {"title": "muster folder"}, token=token)
    status, linked = submit(farm, token, openpype_job(
        jobName="linked", includedPools=["nowhere"], excludedPools=["gpu"],
        dependIds=[str(ids[0])], dependMode=1, parentId=folder["id"],
    ))  # fmt: skip
    assert status == 200, linked
    held = farm.job(linked["ResponseData"]["jobId"])
    assert held["depends_on"] == [{"job": ids[0], "mode": "failure"}]
    assert (held["parent"], held["excluded_pools"]) == (folder["id"], ["gpu"])
    farm.request("DELETE", f"/api/v1/jobs/{held['id']}")
    farm.request("DELETE", f"/api/v1/folders/{folder['id']}")
    actions = "/api/queue/actions"

    def act(name: str, params: dict[str, Any] | None = None, body: Any = None) -> dict[str, Any]:
        status, answer = muster(
            farm.url, "POST", actions, {"authToken": token, "name": name, **(params or {})}, body
        )
        assert status == 200, answer
        return dict(answer["ResponseData"])

    # Listing: Muster's keys, filters, pages.
    status, answer = muster(
        farm.url,
        "GET",
        actions,
        {"authToken": token, "name": "list", "owner": "td", "$format": "json"},
    )
    assert status == 200
    listed = {job["jobId"]: job for job in answer["ResponseData"]["jobs"]}
    assert set(ids) <= set(listed) and all(job["owner"] == "td" for job in listed.values())
    first = listed[ids[0]]
    assert (first["jobName"], first["templateId"], first["templateKey"]) == (
        "queued 0",
        101,
        "mayaish",
    )
    assert (first["status"], first["packetSize"], first["includedPools"]) == (
        "queued",
        4,
        ["nowhere"],
    )
    assert (first["framesRange"], first["project"], first["priority"]) == ("1-8", "myproject", 1)
    assert first["attributes"]["job_file"] == {
        "value": "/projects/myproject/shot010.ma", "state": True, "subst": True,
    }  # fmt: skip
    page = act("list", {"limit": 1, "owner": "td"})
    assert len(page["jobs"]) == 1 and page["next"]
    second = act("list", {"limit": 1, "owner": "td", "after": page["next"]})
    assert second["jobs"][0]["jobId"] > page["jobs"][0]["jobId"]

    # Pause two by the query, resume one by the body, reinit, delete.
    paused = act("pause", {"jobId": f"{ids[0]},{ids[1]}"})
    assert [job["status"] for job in paused["jobs"]] == ["paused", "paused"]
    assert (
        farm.job(ids[0])["paused"] and farm.job(ids[1])["paused"] and not farm.job(ids[2])["paused"]
    )
    resumed = act("resume", body={"RequestData": {"jobIds": [ids[0]]}})
    assert resumed["jobs"][0]["jobId"] == ids[0] and not farm.job(ids[0])["paused"]
    assert act("reinit", {"jobId": str(ids[2])})["jobs"][0]["status"] == "queued"
    assert act("delete", {"jobId": f"{ids[1]},{ids[2]}"}) == {"deleted": [ids[1], ids[2]]}
    remaining = set(job_ids(farm))
    assert ids[0] in remaining and ids[1] not in remaining and ids[2] not in remaining
    act("delete", body={"RequestData": {"jobId": ids[0]}})
    assert ids[0] not in set(job_ids(farm))


def test_bad_input_gets_the_right_code_and_changes_nothing(farm: Farm) -> None:
    token = login(farm, "td")
    viewer = login(farm, "viewer")
    admins = farm.submit(title="the admin's", paused=True)["id"]
    before = job_ids(farm)
    state_before = farm.job(admins)
    actions = "/api/queue/actions"

    def refused(code: int, method: str, path: str, params: dict[str, Any], body: Any = None,
                raw: bytes = b"", field: str | None = None) -> str:  # fmt: skip
        status, answer = muster(farm.url, method, path, params, body, raw)
        assert status == code, answer
        assert answer["ResponseData"] == {}
        if field is not None:
            assert answer["ResponseStatus"]["Field"] == field, answer
        assert job_ids(farm) == before, "a refused request changed the queue"
        return str(answer["ResponseStatus"]["Description"])

    submit_params = {"authToken": token, "name": "submit"}

    def body(**changes: Any) -> dict[str, Any]:
        return {"RequestData": {"platform": 0, "job": openpype_job(**changes)}}

    def with_attribute(name: str, value: Any, state: bool = True) -> dict[str, Any]:
        attributes = openpype_job()["attributes"]
        attributes[name] = {"value": value, "state": state, "subst": False}
        return body(attributes=attributes)

    # Malformed bodies and wrong types.
    refused(400, "POST", actions, submit_params, raw=b"{not json")
    refused(400, "POST", actions, submit_params, body=[1, 2])
    refused(400, "POST", actions, submit_params, body={"RequestData": {"platform": 0}},
            field="RequestData.job")  # fmt: skip
    refused(400, "POST", actions, submit_params, body(packetSize="four"),
            field="RequestData.job.packetSize")  # fmt: skip
    refused(400, "POST", actions, submit_params, body(priority=70000),
            field="RequestData.job.priority")  # fmt: skip
    refused(400, "POST", actions, submit_params, body(includedPools=[3]),
            field="RequestData.job.includedPools.0")  # fmt: skip
    refused(400, "POST", actions, submit_params, body(dependIds=["twelve"]),
            field="RequestData.job.dependIds")  # fmt: skip
    refused(400, "POST", actions, submit_params, body(frobnicate=1),
            field="RequestData.job.frobnicate")  # fmt: skip
    refused(400, "POST", actions, submit_params, body(jobId=12), field="RequestData.job.jobId")
    refused(400, "POST", actions, submit_params, body(attributes={"memo": "not an object"}))
    # Unknown template, bad frames, bad environment, a post job action that cannot be split:
    # none of them queues the job (nor its post job action).
    text = refused(400, "POST", actions, submit_params, body(templateId=999),
                   field="RequestData.job.templateId")  # fmt: skip
    assert "999" in text and "101 (mayaish)" in text
    refused(400, "POST", actions, submit_params, with_attribute("frames_range", "ten-twenty"),
            field="RequestData.job.attributes.frames_range.value")  # fmt: skip
    refused(400, "POST", actions, submit_params, with_attribute("frames_range", "9-1"),
            field="RequestData.job.attributes.frames_range.value")  # fmt: skip
    refused(400, "POST", actions, submit_params, with_attribute("environmental_variables", "A='x"),
            field="RequestData.job.attributes.environmental_variables")  # fmt: skip
    refused(400, "POST", actions, submit_params, with_attribute("post_job_action", "echo 'open"),
            field="RequestData.job.attributes.post_job_action.value")  # fmt: skip
    refused(404, "POST", actions, submit_params, body(dependIds=["999999"]))
    refused(400, "POST", actions, {**submit_params, "name": "frobnicate"}, body(), field="name")
    refused(400, "POST", actions, {**submit_params, "extra": "1"}, body(), field="extra")
    assert "xml" in refused(406, "POST", actions, {**submit_params, "$format": "xml"}, body())
    refused(406, "POST", "/api/templates/list", {"authToken": token, "format": "xml"})
    refused(405, "GET", actions, {"authToken": token, "name": "delete", "jobId": str(admins)})

    # Tokens: none, wrong, and one without the permission.
    refused(401, "POST", actions, {"name": "submit"}, body())
    refused(401, "POST", actions, {**submit_params, "authToken": "not-a-token"}, body())
    refused(401, "POST", "/api/templates/list", {"select": "name"})
    refused(403, "POST", actions, {**submit_params, "authToken": viewer}, body())
    refused(403, "POST", actions, {"authToken": token, "name": "pause", "jobId": str(admins)})
    refused(403, "POST", actions, {"authToken": token, "name": "delete", "jobId": str(admins)})
    # Job ids: unknown ones, a bad list; the known job in the same request stays as it was.
    refused(404, "POST", actions, {"authToken": viewer, "name": "pause", "jobId": "999999"})
    refused(404, "POST", actions, {"authToken": farm.token, "name": "resume",
                                   "jobId": f"{admins},999999"})  # fmt: skip
    refused(400, "POST", actions, {"authToken": farm.token, "name": "resume", "jobId": "1,x"},
            field="jobId")  # fmt: skip
    refused(400, "POST", actions, {"authToken": farm.token, "name": "reinit"}, field="jobId")
    assert farm.job(admins)["paused"] == state_before["paused"] is True

    # Logging in: wrong password, missing password; Muster-shaped too.
    refused(401, "POST", "/api/login", {"username": "td", "password": "wrong"})
    refused(400, "POST", "/api/login", {"username": "td"}, field="password")
    refused(405, "GET", "/api/login", {"username": "td", "password": "x", "authToken": token})


def test_auth_token_query_parameter_works_on_every_route(farm: Farm) -> None:
    token = login(farm, "td")
    with urllib.request.urlopen(f"{farm.url}/api/v1/jobs/?authToken={token}", timeout=30) as got:
        assert got.status == 200 and isinstance(json.loads(got.read()), list)
    # A wrong one is refused in the route's own shape: problem+json on /api/v1.
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{farm.url}/api/v1/jobs/?authToken=wrong", timeout=30)
    assert caught.value.code == 401
    assert caught.value.headers["Content-Type"].startswith("application/problem+json")
    # The Authorization header works on Muster's routes too, and wins over the parameter.
    request = urllib.request.Request(
        f"{farm.url}/api/templates/list?authToken=wrong", method="POST",
        headers={"Authorization": f"Bearer {token}"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as got:
        assert json.loads(got.read())["ResponseStatus"]["Code"] == 200
