"""Submission items are the job's fields, on a real farm: the Katana template written the
Muster way in the dispatcher's site folder, a real render client running its chunks, and
every front a job comes through (REST v1, `corral submit --set`, MDispatcherAPI's
jobSubmit in an admin script, Muster's REST submit). Template defaults (priority, pools,
excluded pools, maximum nodes) and per-platform enablement apply to jobs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.farm import CORRAL, ApiError, Farm
from tests.integration.hookfarm import script_json, start_farm, write_template
from tests.integration.test_muster_rest import muster

pytestmark = pytest.mark.integration

KATANA = Path(__file__).resolve().parents[1] / "data" / "templates" / "katana.py"

# A template with defaults for every job field a template may default, enabled only on
# Windows: its jobs must never run on the (Linux) test node.
DEFAULTS = """
import shlex
import MTemplateAPI

class Defaults(MTemplateAPI.MTemplate):
    def __init__(self):
        MTemplateAPI.MTemplate.__init__(self)
        self.setID(970)
        self.setKey("defaults")
        self.setName("Defaults")
        self.setDefaultPriority(7)
        self.setDefaultPools("lighting, fx")
        self.setDefaultExcludedPools("slow")
        self.setDefaultMaximumNodes(2)
        self.setMaximumLicenses(3)
        self.setLicensesGroup("renderman")
        self.setDelayGroup("rman")
        self.setDelay(5)
        self.platformWindows.setPlatformEnabled(1)
        self.platformWindows.setEnableErrorCheck(0)

    def onBuildCommandLine(self, platform, job, chunk, prefs, instance):
        return shlex.join(job.to_dict()["command"])

MTemplateAPI.MManager.getUniqueClass().installPyTemplate(Defaults())
"""


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    root = tmp_path_factory.mktemp("submission-items")
    site = root / "site"
    site.mkdir()
    shutil.copy(KATANA, site / "katana.py")  # dropped in unchanged
    write_template(site, "defaults.py", DEFAULTS)
    katana = root / "katana"
    katana.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        "print('KATANA ' + json.dumps(sys.argv[1:]), flush=True)\n"
    )
    katana.chmod(0o755)
    farm = start_farm(root / "farm", "--templates-dir", str(site), "--hook-timeout-s", "30")
    farm.client(
        "kat1", "--pool", "lighting", "--template-config", f"katana:KATAPP={katana}"
    )  # fmt: skip
    farm.wait_nodes(1)
    yield farm
    farm.close()


def katana_argv(farm: Farm, job_id: int, chunk: int) -> list[str]:
    task = farm.task(job_id, chunk)
    log = str(farm.request("GET", f"/api/v1/jobs/{job_id}/tasks/{task}/log"))
    line = next(line for line in log.splitlines() if line.startswith("KATANA "))
    argv: list[str] = json.loads(line.removeprefix("KATANA "))
    return argv


def job_count(farm: Farm) -> int:
    return len(farm.request("GET", "/api/v1/jobs/"))


def refused(farm: Farm, job: dict[str, Any]) -> dict[str, Any]:
    """POST the job, expect a 400, and answer its problem document."""
    with pytest.raises(ApiError) as error:
        farm.request("POST", "/api/v1/jobs/", job)
    assert error.value.status == 400, (job, error.value.body)
    body: dict[str, Any] = error.value.body
    return body


def katana_job(title: str, **data: Any) -> dict[str, Any]:
    return {"title": title, "template": "katana", "batch": 2, "requeue": 0, "data": data}


def test_katana_fields_make_the_job_and_reach_the_command_line(farm: Farm) -> None:
    job = farm.request("POST", "/api/v1/jobs/", katana_job(
        "fields", KATFILENAME="/shots/b010.katana", KATSTARTFRAME=3, KATENDFRAME="6",
        KATNODE="Render_beauty", JOBNOTES="first pass", OUTPUTFOLDER="/renders/b010",
    ))  # fmt: skip
    # The mapped fields became the job's frames and Muster's attributes.
    assert (job["start"], job["end"], job["by"]) == (3, 6, 1)
    assert job["data"] == {
        "job_file": "/shots/b010.katana",
        "render_node": "Render_beauty",
        "job_notes": "first pass",
        "output_folder": "/renders/b010",
    }
    assert job["priority"] == 1  # the template's default priority
    done = farm.wait_state(job["id"], "done", "failed")
    assert done["state"] == "done", done
    chunks = farm.chunks(job["id"])
    assert [(chunk["start"], chunk["end"]) for chunk in chunks] == [(3, 4), (5, 6)]
    for index, frames in ((0, "3-4"), (1, "5-6")):
        argv = katana_argv(farm, job["id"], index)
        assert argv[:5] == [
            "--batch", "--katana-file=/shots/b010.katana", "-t", frames,
            "--render-node=Render_beauty",
        ], argv  # fmt: skip

    # resolveMappingToJob answers the same in the dispatcher's hook host.
    answer = script_json(farm, """
        import json, MTemplateAPI
        manager = MTemplateAPI.MManager.getUniqueClass()
        print(json.dumps([manager.resolveMappingToJob(962, name)
                          for name in ("KATFILENAME", "KATSTARTFRAME", "OUTPUTFOLDER", "KATHOME")]))
    """)  # fmt: skip
    assert answer == ["job_file", "start_frame", "output_folder", "KATHOME"]


def test_the_attribute_names_and_the_frames_fill_the_items_too(farm: Farm) -> None:
    # Muster's REST clients send job_file and a frame range: the same job.
    job = farm.request("POST", "/api/v1/jobs/", {
        **katana_job("by attribute", job_file="/shots/c.katana"), "frames": "2-3", "priority": 40,
    })  # fmt: skip
    assert (job["start"], job["end"], job["priority"]) == (2, 3, 40)
    assert job["data"] == {
        "job_file": "/shots/c.katana", "render_node": "", "job_notes": "",
    }  # fmt: skip
    assert farm.wait_state(job["id"], "done", "failed")["state"] == "done"
    assert katana_argv(farm, job["id"], 0)[:4] == [
        "--batch", "--katana-file=/shots/c.katana", "-t", "2-3",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("data", "extra", "field", "says"),
    [
        ({}, {}, "data.KATFILENAME", "required (Scene file)"),
        ({"KATFILENAME": "  "}, {}, "data.KATFILENAME", "required"),
        ({"KATFILENAME": "/shots/a.ma"}, {}, "data.KATFILENAME", "does not match the file filter"),
        ({"KATFILENAME": 12}, {}, "data.KATFILENAME", "must be text"),
        ({"KATSTARTFRAME": "ten"}, {}, "data.KATSTARTFRAME", "must be a whole number"),
        ({"KATSTARTFRAME": 2.5}, {}, "data.KATSTARTFRAME", "must be a whole number"),
        ({"KATBYFRAME": 0}, {}, "data.KATBYFRAME", "below the minimum 1"),
        ({"KATBYFRAME": 101}, {}, "data.KATBYFRAME", "above the maximum 100"),
        ({"KATSTARTFRAME": 9, "KATENDFRAME": 3}, {}, "end", "before the start frame"),
        ({"KATSTARTFRAME": 5}, {"frames": "1-4"}, "data.KATSTARTFRAME", "differs from frames"),
        ({"job_file": "/b.katana"}, {}, "data.KATFILENAME", "differs from data.job_file"),
    ],
)
def test_a_refused_field_answers_400_naming_it_and_queues_nothing(
    farm: Farm, data: dict[str, Any], extra: dict[str, Any], field: str, says: str
) -> None:
    before = job_count(farm)
    if "job_file" in data:  # the item and its attribute disagree
        data = {**data, "KATFILENAME": "/a.katana"}
    elif "KATFILENAME" not in data and data:
        data = {**data, "KATFILENAME": "/shots/a.katana"}
    body = refused(farm, {**katana_job("refused", **data), **extra})
    assert body.get("field") == field, body
    assert field in body["detail"] and says in body["detail"], body
    assert job_count(farm) == before


def test_corral_submit_sets_fields(farm: Farm) -> None:
    def corral(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CORRAL, "--dispatcher", farm.url, "--token", farm.token, "submit", "--json",
             "--template", "katana", *args],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    before = job_count(farm)
    missing = corral("--name", "cli missing", "--set", "KATSTARTFRAME=2")
    assert missing.returncode == 1 and "KATFILENAME" in missing.stderr, missing
    wrong = corral("--name", "cli wrong", "--set", "KATFILENAME=/a.katana", "--set", "KATBYFRAME=x")
    assert wrong.returncode == 1 and "KATBYFRAME" in wrong.stderr, wrong
    assert job_count(farm) == before
    made = corral(
        "--name", "cli", "--packet", "2", "--set", "KATFILENAME=/shots/cli.katana",
        "--set", "KATSTARTFRAME=5", "--set", "KATENDFRAME=8", "--set", "KATBYFRAME=3",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    job = json.loads(made.stdout)
    job = job[0] if isinstance(job, list) else job
    assert (job["start"], job["end"], job["by"]) == (5, 8, 3)
    assert job["data"]["job_file"] == "/shots/cli.katana"
    assert farm.wait_state(job["id"], "done", "failed")["state"] == "done"
    assert katana_argv(farm, job["id"], 0)[2:4] == ["-t", "5-8"]  # frames 5 and 8: one chunk


def test_mdispatcherapi_job_submit_validates_the_fields(farm: Farm) -> None:
    before = job_count(farm)
    answer = script_json(farm, """
        import json, MClientAPI, MDispatcherAPI
        def job(title, **attributes):
            made = MDispatcherAPI.MJob()
            made.setName(title)
            made.setTemplateID(962)
            made.setPacketSize(4)
            for key, value in attributes.items():
                made.attributeSetString(key, value)
            return made
        good = job("hook fields", KATFILENAME="/shots/hook.katana", KATSTARTFRAME="4",
                   KATENDFRAME="7", KATNODE="hooknode")
        err = MDispatcherAPI.jobSubmit(good, "admin")
        bad = job("hook bad", KATFILENAME="/shots/hook.abc")
        bad_err = MDispatcherAPI.jobSubmit(bad, "admin")
        print(json.dumps([err.getErrorCode(), good.getJobId(), bad_err.getErrorCode(),
                          bad_err.getDescription()]))
    """)  # fmt: skip
    code, job_id, bad_code, bad_text = answer
    assert code == 0 and bad_code != 0, answer
    assert "KATFILENAME" in bad_text and "filter" in bad_text
    assert job_count(farm) == before + 1
    job = farm.job(job_id)
    assert (job["start"], job["end"], job["priority"]) == (4, 7, 1), job
    assert job["data"]["job_file"] == "/shots/hook.katana"
    assert farm.wait_state(job_id, "done", "failed")["state"] == "done"
    assert katana_argv(farm, job_id, 0)[:5] == [
        "--batch", "--katana-file=/shots/hook.katana", "-t", "4-7", "--render-node=hooknode",
    ]  # fmt: skip


def test_muster_rest_submit_validates_the_fields(farm: Farm) -> None:
    def submit(attributes: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        job = {
            "jobName": "muster fields", "templateId": 962, "packetSize": 2, "jobId": -1,
            "attributes": {
                name: {"value": value, "state": True, "subst": False}
                for name, value in attributes.items()
            },
        }  # fmt: skip
        params = {"authToken": farm.token, "name": "submit"}
        body = {"RequestData": {"platform": 0, "job": job}}
        return muster(farm.url, "POST", "/api/queue/actions", params, body)

    before = job_count(farm)
    status, answer = submit({"KATFILENAME": "/shots/m.abc", "KATSTARTFRAME": 1})
    assert status == 400, answer
    description = answer["ResponseStatus"]["Description"]
    assert "RequestData.job.attributes.KATFILENAME" in description, answer
    status, answer = submit({"KATFILENAME": "/shots/m.katana", "KATENDFRAME": "x"})
    assert status == 400 and "KATENDFRAME" in answer["ResponseStatus"]["Description"], answer
    assert job_count(farm) == before
    status, answer = submit(
        {"KATFILENAME": "/shots/m.katana", "KATSTARTFRAME": 1.0, "KATENDFRAME": 4.0}
    )
    assert status == 200, answer
    job = farm.job(answer["ResponseData"]["jobId"])
    assert (job["start"], job["end"], job["priority"]) == (1, 4, 1), job
    assert job["data"]["job_file"] == "/shots/m.katana"
    assert farm.wait_state(job["id"], "done", "failed")["state"] == "done"
    assert katana_argv(farm, job["id"], 1)[1:4] == ["--katana-file=/shots/m.katana", "-t", "3-4"]


def test_template_defaults_apply_to_jobs_that_do_not_set_them(farm: Farm) -> None:
    command = [sys.executable, "-c", "print('should never run')"]
    plain = farm.submit(title="defaults", template="defaults", command=command)
    assert plain["priority"] == 7
    assert plain["pools"] == ["lighting", "fx"] and plain["excluded_pools"] == ["slow"]
    assert plain["max_nodes"] == 2
    chosen = farm.submit(
        title="chosen", template="defaults", command=command, priority=90, pools=["lighting"],
        excluded_pools=[], max_nodes=0,
    )  # fmt: skip
    assert (chosen["priority"], chosen["pools"], chosen["excluded_pools"]) == (90, ["lighting"], [])
    assert chosen["max_nodes"] == 0
    # The catalog keeps the template's licence and delay settings for the scheduler.
    listed = farm.request("GET", "/api/v1/templates/")
    templates = listed["templates"] if isinstance(listed, dict) else listed
    info = next(template for template in templates if template["key"] == "defaults")
    assert (info["maximum_licenses"], info["licenses_group"]) == (3, "renderman")
    assert (info["delay_group"], info["delay_s"]) == ("rman", 5)
    assert info["platforms"]["windows"] == {
        "enabled": True, "error_check": False, "enabled_by_default": False,
        "frames_floating": False, "detection_logic": 0,
    }  # fmt: skip
    assert not info["platforms"]["linux"]["enabled"]

    # Enabled on Windows only: the Linux node (in pool lighting) never takes its chunks.
    time.sleep(1.5)
    for job in (plain, chosen):
        assert farm.job(job["id"])["state"] == "queued"
        assert all(chunk["state"] == "queued" for chunk in farm.chunks(job["id"]))
    why = farm.request("GET", f"/api/v1/jobs/{chosen['id']}/why")
    assert any("not enabled for linux nodes" in reason for reason in why["reasons"]), why
    for job in (plain, chosen):
        farm.request("DELETE", f"/api/v1/jobs/{job['id']}")


def test_a_scene_path_with_a_space_reaches_the_command_as_one_argument(farm: Farm) -> None:
    job = farm.request(
        "POST", "/api/v1/jobs/", katana_job("spaces", KATFILENAME="/shots/my shot.katana")
    )
    assert farm.wait_state(job["id"], "done", "failed")["state"] == "done"
    assert katana_argv(farm, job["id"], 0)[1] == "--katana-file=/shots/my shot.katana"
