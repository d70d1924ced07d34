"""`import smedge`, the job side, against a live dispatcher with a render client: every
example of the seed's "Submitting and Updating Jobs", "Query for Jobs" and "Encode
Rendered Frames into Movies" run as written (SEED-NOTES' corrections: the standard
imports added, `from smedge import *`), in the system's python3 with only the compat
folder on PYTHONPATH; then each other job call, bad input and the event commands."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration import smedgekit
from tests.integration.farm import ApiError, Farm, wait_for
from tests.integration.test_corral_client import python37

# The IDs the seed's examples name literally: jobs with these UUIDs exist before they run.
SEED_JOB = "a29f0cb2-11e1-42a9-9b72-6c5f5be5f671"
SEED_BATCH = [
    "178b043e-4a28-4235-acbc-642c7480c360",
    "12f1146d-a16e-4a02-ba69-577b22a94757",
    "b5f40f8b-795a-43ef-bf12-aca6b6d7289f",
]


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    root = tmp_path_factory.mktemp("smedge")
    farm = Farm(root / "data").start()
    try:
        farm.client("render-a")
        farm.wait_nodes(1)
        yield farm
    finally:
        farm.close()


def views(farm: Farm) -> dict[str, dict[str, Any]]:
    """Every job on the farm by UUID."""
    return {job["uuid"]: job for job in farm.request("GET", "/api/v1/jobs/")}


def job(farm: Farm, key: str) -> dict[str, Any]:
    found: dict[str, Any] = farm.request("GET", f"/api/v1/jobs/{key}")
    return found


def seed_jobs(farm: Farm) -> None:
    """The jobs whose IDs the seed's update and query examples name, submitted paused."""
    for key, template, title in [(SEED_JOB, "maya", "Test Job")] + [
        (key, "maya", f"seed batch {n}") for n, key in enumerate(SEED_BATCH)
    ]:
        if any(view["uuid"] == key for view in farm.request("GET", "/api/v1/jobs/")):
            continue
        farm.request(
            "POST",
            "/api/v1/jobs/?unique_titles=false",
            {"title": title, "template": template, "frames": "1001-1050", "uuid": key,
             "data": {"job_file": "/path/to/the/scene.mb"}, "paused": True},
        )  # fmt: skip


# -- Submitting and Updating Jobs --------------------------------------------------------
def test_submit_a_simple_maya_job(farm: Farm) -> None:
    result = smedgekit.answer(
        farm,
        """
        job = {
            "Name": "My Job",
            "Type": "Maya",
            "Scene": "/path/to/the/scene.mb",
            "Range": "1001-1250",
        }
        result = submit_jobs(job)
        print(result)
        assert isinstance(result, list) and all(isinstance(item, UUID) for item in result)
        print(json.dumps([str(item) for item in result]))
        """,
    )
    assert len(result) == 1
    made = job(farm, result[0])
    assert made["title"] == "My Job" and made["template"] == "maya"
    assert (made["start"], made["end"]) == (1001.0, 1250.0)
    assert made["data"]["job_file"] == "/path/to/the/scene.mb"
    assert made["data"]["smedge"]["params"]["Type"] == "Maya"


def test_submit_two_layers_and_a_comp_waiting_frame_by_frame(farm: Farm) -> None:
    result = smedgekit.answer(
        farm,
        """
        maya_job = {
            "Type": "Maya",
            "Scene": "/path/to/the/scene.mb",
            "Range": "1001-1250",
            "Priority": 50,
        }
        render_jobs = []
        layers = ["layer1", "layer2"]
        for layer in layers:
            layer_job = maya_job.copy()
            layer_job["Name"] = f"Render - {layer}"
            layer_job["ID"] = uuid4()
            layer_job["Extra"] = f"-rl {layer}"
            render_jobs.append(layer_job)
        nuke_job = {
            "Name": "Comp layers",
            "Type": "Nuke",
            "Scene": "/path/to/the/comp_script.nk",
            "Range": "1001-1250",
            "Priority": 55,
            "WaitForJobID": [job["ID"] for job in render_jobs],
            "WaitForWholeJob": 0,
        }
        render_jobs.append(nuke_job)
        result = submit_jobs(render_jobs)
        print(result)
        assert [job["ID"] for job in render_jobs[:2]] == result[:2]
        print(json.dumps([str(item) for item in result]))
        """,
    )
    assert len(result) == 3
    layer1, layer2, comp = (job(farm, key) for key in result)
    assert [layer1["title"], layer2["title"]] == ["Render - layer1", "Render - layer2"]
    assert layer1["data"]["additional_flags"] == "-rl layer1"
    assert layer2["data"]["additional_flags"] == "-rl layer2"
    assert (layer1["priority"], comp["priority"]) == (50, 55)
    assert comp["template"] == "nuke" and comp["data"]["job_file"].endswith("comp_script.nk")
    assert sorted(dep["job"] for dep in comp["depends_on"]) == sorted([layer1["id"], layer2["id"]])
    assert comp["per_frame"] is True


def test_submit_into_a_named_pool(farm: Farm) -> None:
    code = """
        job = {
            "Name": "Test Job",
            "Type": "Maya",
            "Scene": "/path/to/the/scene.mb",
            "Range": "1001-1050",
        }
        all_pools = get_pools()
        for pool in all_pools:
            if job["Type"] in pool.name:
                job["Pool"] = pool
                break
        result = submit_jobs(job)
        print(result)
        print(json.dumps([str(item) for item in result]))
        """
    farm.request("POST", "/api/v1/pools/", {"name": "Maya renders"})
    made = job(farm, smedgekit.answer(farm, code)[0])
    assert made["pools"] == ["Maya renders"]


def test_change_a_jobs_priority(farm: Farm) -> None:
    seed_jobs(farm)
    smedgekit.run(
        farm,
        """
        job = update_jobs("a29f0cb2-11e1-42a9-9b72-6c5f5be5f671", "Priority", 100)
        """,
    )
    assert job(farm, SEED_JOB)["priority"] == 100


def test_pause_several_jobs_at_once(farm: Farm) -> None:
    seed_jobs(farm)
    for key in SEED_BATCH:
        farm.request("POST", f"/api/v1/jobs/{key}/actions/resume")
    smedgekit.run(
        farm,
        """
        jobs = [UUID('178b043e-4a28-4235-acbc-642c7480c360'),
        UUID('12f1146d-a16e-4a02-ba69-577b22a94757'),
        UUID('b5f40f8b-795a-43ef-bf12-aca6b6d7289f')]
        update_jobs(jobs, "Status", -1)
        """,
    )
    assert all(job(farm, key)["paused"] for key in SEED_BATCH)
    smedgekit.run(farm, f"update_jobs({SEED_BATCH!r}, 'Status', 0)")
    assert not any(job(farm, key)["paused"] for key in SEED_BATCH)
    smedgekit.run(farm, f"update_jobs({SEED_BATCH!r}, 'Status', -1)")


# -- Query for Jobs ------------------------------------------------------------------------
def test_get_all_jobs_in_the_system(farm: Farm) -> None:
    seed_jobs(farm)
    found = smedgekit.answer(
        farm,
        """
        jobs = get_jobs()
        print(json.dumps([[str(job["ID"]), job["Name"], job["Type"]] for job in jobs]))
        """,
    )
    on_farm = {key: view for key, view in views(farm).items() if view["kind"] == "job"}
    assert {row[0] for row in found} == set(on_farm)
    assert [SEED_JOB, "Test Job", "Maya"] in found


def test_get_one_specific_job_directly(farm: Farm) -> None:
    seed_jobs(farm)
    found = smedgekit.answer(
        farm,
        """
        jobs = get_jobs("a29f0cb2-11e1-42a9-9b72-6c5f5be5f671")
        assert len(jobs) < 2  # empty list if not found, else just this one job
        missing = get_jobs(uuid4())
        assert missing == []
        print(json.dumps([str(job["ID"]) for job in jobs]))
        """,
    )
    assert found == [SEED_JOB]


def test_get_several_known_jobs(farm: Farm) -> None:
    seed_jobs(farm)
    found = smedgekit.answer(
        farm,
        """
        job1_id = UUID("a29f0cb2-11e1-42a9-9b72-6c5f5be5f671")
        job2_id = UUID("178b043e-4a28-4235-acbc-642c7480c360")
        jobs = get_jobs(ids_to_query([job1_id, job2_id]))
        assert len(jobs) < 3  # 0, 1, or both jobs will be found
        print(json.dumps(sorted(str(job["ID"]) for job in jobs)))
        """,
    )
    assert found == sorted([SEED_JOB, SEED_BATCH[0]])


def test_get_all_jobs_for_a_given_user(farm: Farm) -> None:
    farm.request("POST", "/api/v1/users/", {"name": "joe.bloggs", "password": "x" * 12})
    farm.request(
        "POST",
        "/api/v1/jobs/?unique_titles=false",
        {"title": "joe's", "template": "maya", "frames": "1", "user": "joe.bloggs",
         "data": {"job_file": "/j.mb"}, "paused": True},
    )  # fmt: skip
    found = smedgekit.answer(
        farm,
        """
        jobs = get_jobs(query=["Creator", "contains", "Joe"])
        print(json.dumps([job["Creator"] for job in jobs]))
        """,
    )
    assert found and set(found) == {"joe.bloggs"}


def test_get_all_jobs_created_more_than_3_days_ago(farm: Farm) -> None:
    seed_jobs(farm)
    found = smedgekit.answer(
        farm,
        """
        creation_time = datetime.now() - timedelta(days=3)
        jobs = get_jobs(["Created", "before", datetime_to_rtime(creation_time)])
        later = get_jobs(["Created", "after", datetime_to_rtime(creation_time)])
        assert len(get_jobs(["Created", "after", creation_time])) == len(later)  # a datetime
        print(json.dumps([len(jobs), len(later), len(get_jobs())]))
        """,
    )
    assert found[0] == 0 and found[1] == found[2] > 0  # every job here is minutes old


def test_a_more_complicated_query(farm: Farm) -> None:
    seed_jobs(farm)
    for title, template, scene, priority, notes in [
        ("Cleanup 12345", "cmdline", None, 50, ""),
        ("Final comp", "nuke", "/shows/Final/comp.nk", 10, ""),
        ("Draft comp", "nuke", "/shows/draft/comp.nk", 10, ""),
        ("Draft comp noted", "nuke", "/shows/draft/comp2.nk", 10, "see me"),
        ("Heavy comp", "nuke", "/shows/draft/comp3.nk", 90, ""),
    ]:
        spec: dict[str, Any] = {"title": title, "template": template, "frames": "1",
                                "priority": priority, "notes": notes, "paused": True}  # fmt: skip
        if template == "cmdline":
            spec["command"] = ["true"]
        else:
            spec["data"] = {"job_file": scene}
        farm.request("POST", "/api/v1/jobs/?unique_titles=false", spec)
    found = smedgekit.answer(
        farm,
        r"""
        jobs = get_jobs(query=[
            "any",
            [["Type", "!=", "Maya"], ["Type", "!=", "Nuke"]],
            ["Name", "*", r"^Cleanup \d{5}"],
            [
                ["Scene.Path.File", "!:", "Final"],
                ["Priority", "<", 50],
                ["?", ["Note", "=", ""], ["LastError", "!=", ""]],
            ],
        ])
        print(json.dumps(sorted(job["Name"] for job in jobs)))
        """,
    )
    assert "Cleanup 12345" in found and "Draft comp" in found
    assert "Final comp" not in found and "Draft comp noted" not in found
    assert "Heavy comp" not in found and "Test Job" not in found


# -- Encode Rendered Frames into Movies ------------------------------------------------------
ENCODE_SCRIPT = """\
import pathlib
import sys
import smedge

# Get the job ID from the first argument to the script
job_id = sys.argv[1]
# Find that job (assumes the job exists)
job = smedge.get_jobs(job_id)[0]
ffmpeg_jobs = []
# Loop through the ImageFormats parameter: the known or detected output image paths
for format in job["ImageFormat"]:
    # Each format will be a path with a printf format specifier for the frame number
    # like: '/path/to/the/images/filename.%04d.exr'
    format = pathlib.Path(format)
    name = pathlib.Path(format.stem).stem  # 'filename'
    ext = format.suffix[1:]  # 'exr'
    ffmpeg_jobs.append({
        "Name": f"Encode: {name} - {ext} to x264",
        "Type": "ffmpeg",
        "InfileOptions": "-r 24",  # flags that go before the -i
        "Scene": format,  # The input image specifier (-i flag)
        "OutfileOptions": "-v:c libx264 -pix_fmt yuv420p",  # flags that go before the output
        "OutputFile": format.parent / f"{name}_x264.mp4",  # the output filename
        "CPUs": 0,
        "Range": 1,
        "WaitForJobID": job_id,
    })
# Submit all the encode jobs at once
smedge.submit_jobs(ffmpeg_jobs)
"""


def test_the_encode_script_makes_an_ffmpeg_job_per_image_format(farm: Farm, tmp_path: Path) -> None:
    [rendered] = smedgekit.answer(
        farm,
        """
        print(json.dumps([str(key) for key in submit_jobs({
            "Name": "Beauty and depth", "Type": "Maya", "Scene": "/shows/a/scene.mb",
            "Range": "1001-1010", "paused": True,
            "ImageFormat": ["/renders/a/beauty.%04d.exr", "/renders/a/depth.%04d.png"],
        })]))
        """,
    )
    script = tmp_path / "encode.py"
    script.write_text(ENCODE_SCRIPT, encoding="utf-8")
    smedgekit.run(farm, script.read_text(), rendered, prelude="")
    maya = job(farm, rendered)
    encodes = sorted(
        (view for view in views(farm).values() if view["title"].startswith("Encode: ")
         and any(dep["job"] == maya["id"] for dep in view["depends_on"])),
        key=lambda view: view["title"],
    )  # fmt: skip
    assert [view["title"] for view in encodes] == [
        "Encode: beauty - exr to x264",
        "Encode: depth - png to x264",
    ]
    beauty = encodes[0]
    assert beauty["template"] == "ffmpeg"
    assert beauty["data"]["job_file"] == "/renders/a/beauty.%04d.exr"
    assert beauty["data"]["output_file"] == "/renders/a/beauty_x264.mp4"
    assert beauty["data"]["frame_rate"] == 24.0
    assert beauty["data"]["additional_flags"] == "-v:c libx264 -pix_fmt yuv420p"
    assert (beauty["start"], beauty["end"]) == (1.0, 1.0)
    assert beauty["per_frame"] is False  # WaitForWholeJob defaults to the whole job
    assert beauty["data"]["smedge"]["params"]["CPUs"] == "0"


def test_job_finished_event_as_the_seed_writes_it(farm: Farm) -> None:
    [key] = smedgekit.answer(
        farm,
        """
        job = {
            "Name": "My Job",
            "Type": "Maya",
            "Scene": "/path/to/the/scene.mb",
            "Range": "1001-1250",
            "JobFinishedEvt": "python /św/pipeline/encode.py $(ID)",
        }
        result = submit_jobs(job)
        print(json.dumps([str(item) for item in result]))
        """,
    )
    rendered = job(farm, key)
    [event] = [view for view in views(farm).values()
               if any(dep["job"] == rendered["id"] for dep in view["depends_on"])
               and view["template"] == "cmdline"]  # fmt: skip
    assert event["command"] == ["python", "/św/pipeline/encode.py", key]
    assert event["depends_on"] == [{"job": rendered["id"], "mode": "always"}]
    assert event["title"] == "My Job (JobFinishedEvt)"
    assert event["user"] == rendered["user"]
    assert event["chunks"]["total"] == 1


EVENT_PROBE = """\
import json, sys
with open(sys.argv[1], "w", encoding="utf-8") as handle:
    json.dump(sys.argv[2:], handle)
"""


def test_event_commands_run_on_a_render_node_with_each_value_one_argument(
    farm: Farm, tmp_path: Path
) -> None:
    probe = tmp_path / "job_finished.py"
    probe.write_text(EVENT_PROBE, encoding="utf-8")
    out = tmp_path / "event.json"
    note = 'it\'s "quoted"; $(whoami) `id` && touch /tmp/pwned --flag'
    command = f"{smedgekit.python()} {probe} {out} $(ID) $(Note.Enquote) $(Note) $(Name)"
    [key] = smedgekit.answer(
        farm,
        f"""
        print(json.dumps([str(item) for item in submit_jobs({{
            "Name": "Event probe", "Type": "Command", "Command": "true", "Range": 1,
            "Note": {note!r}, "JobFinishedEvt": {command!r},
        }})]))
        """,
    )
    wait_for(out.exists, 60, "the JobFinishedEvt command to run on the render node")
    assert json.loads(out.read_text()) == [key, note, note, "Event probe"]
    assert not Path("/tmp/pwned").exists()


def test_event_commands_refuse_what_corral_does_not_run(farm: Farm) -> None:
    before = len(views(farm))
    failed = smedgekit.answer(
        farm,
        """
        problems = []
        for events in ({"JobStartedEvt": "python a.py"}, {"JobFinishedEvt": "python $(Nope)"},
                       {"JobFinishedEvt": "python $(ID.Shout)"},
                       {"JobFinishedEvt": "python 'unclosed"}):
            job = {"Name": "refused", "Type": "Command", "Command": "true", "Range": 1}
            job.update(events)
            try:
                submit_jobs(job)
            except SmedgeComponentError as exc:
                problems.append([exc.status, str(exc)])
        print(json.dumps(problems))
        """,
    )
    assert [status for status, _ in failed] == [501, 400, 400, 400]
    assert "not supported" in failed[0][1] and "$(Nope)" in failed[1][1]
    assert len(views(farm)) == before  # nothing was queued


# -- the other job calls ---------------------------------------------------------------------
def submit(farm: Farm, paused: bool = False, **job: Any) -> str:
    """Submit one job through smedge; its UUID."""
    [key] = smedgekit.answer(
        farm,
        f"print(json.dumps([str(item) for item in submit_jobs({job!r}, paused={paused!r})]))",
    )
    return str(key)


def running_tasks(farm: Farm, key: str) -> list[dict[str, Any]]:
    return [task for task in farm.request("GET", f"/api/v1/jobs/{key}/tasks/")
            if task["state"] == "running"]  # fmt: skip


def test_pause_with_stop_work_requeues_running_work_and_resume_runs_it(farm: Farm) -> None:
    key = submit(farm, Name="sleeper", Type="Command", Command="sleep 60", Range=1)
    wait_for(lambda: running_tasks(farm, key), 60, "the sleeper to run")
    smedgekit.run(farm, f"pause_jobs({key!r}, stop_work=True)")
    view = job(farm, key)
    assert view["paused"] and not running_tasks(farm, key)
    smedgekit.run(farm, f"resume_jobs(UUID({key!r}))")
    wait_for(lambda: running_tasks(farm, key), 60, "the sleeper to run again")
    smedgekit.run(farm, f"preempt({key!r})")
    [task] = farm.request("GET", f"/api/v1/jobs/{key}/tasks/")
    assert task["attempts"] >= 2 and not job(farm, key)["paused"]
    history = smedgekit.answer(
        farm,
        f"""
        history = get_job_history({key!r})
        [(job_id, elements)] = history.items()
        assert job_id == UUID({key!r})
        assert all(isinstance(element, HistoryElement) for element in elements)
        print(json.dumps([[e.status, e.note, str(e.engine_id), e.time.isoformat()]
                          for e in elements]))
        """,
    )
    assert [row[0] for row in history][:2] == [1, 0]  # started, then stopped and queued
    node = farm.nodes()[0]
    assert history[0][2] == node["uuid"]
    smedgekit.run(farm, f"delete_jobs({key!r}, stop_work=True)")
    with pytest.raises(ApiError) as gone:
        job(farm, key)
    assert gone.value.status == 404


def test_delete_without_stop_work_refuses_a_job_with_running_work(farm: Farm) -> None:
    key = submit(farm, Name="busy", Type="Command", Command="sleep 60", Range=1)
    wait_for(lambda: running_tasks(farm, key), 60, "the job to run")
    refused = smedgekit.answer(
        farm,
        f"""
        try:
            delete_jobs([{key!r}])
        except SmedgeComponentError as exc:
            print(json.dumps([exc.status, str(exc)]))
        """,
    )
    assert refused[0] == 501 and "not supported" in refused[1]
    assert job(farm, key)["uuid"] == key  # still there
    idle = submit(farm, Name="idle", Type="Command", Command="true", Range=1, paused=True)
    smedgekit.run(farm, f"delete_jobs({idle!r})")
    assert idle not in views(farm)
    smedgekit.run(farm, f"delete_jobs({key!r}, stop_work=True)")


def test_usurp_stops_lower_priority_work(farm: Farm) -> None:
    low = submit(farm, Name="low", Type="Command", Command="sleep 60", Range=1, Priority=10)
    wait_for(lambda: running_tasks(farm, low), 60, "the low job to run")
    high = submit(farm, Name="high", Type="Command", Command="sleep 60", Range=1, Priority=90)
    [running] = running_tasks(farm, low)
    smedgekit.run(farm, f"usurp([{high!r}], minimum_priority=5)")  # 10 is not below 5
    assert [task["attempts"] for task in running_tasks(farm, low)] == [running["attempts"]]
    smedgekit.run(farm, f"usurp([{high!r}])")
    wait_for(lambda: running_tasks(farm, high), 60, "the high job to take the node")
    assert not running_tasks(farm, low)
    smedgekit.run(farm, f"delete_jobs([{low!r}, {high!r}], stop_work=True)")


def test_reset_job_failures_queues_failed_work_again(farm: Farm) -> None:
    # Paused until it may fail only once: retried at once, it could fail often enough on the
    # one node to be excluded from it, and then wait queued instead of failing.
    key = submit(farm, paused=True, Name="failing", Type="Command", Command="false", Range=1)
    farm.request("PATCH", f"/api/v1/jobs/{key}", {"requeue": 0})
    farm.request("POST", f"/api/v1/jobs/{key}/actions/resume")
    farm.wait_state(job(farm, key)["id"], "failed")
    [before] = farm.request("GET", f"/api/v1/jobs/{key}/tasks/")
    smedgekit.run(farm, f"reset_job_failures({key!r})")
    wait_for(
        lambda: (
            farm.request("GET", f"/api/v1/jobs/{key}/tasks/")[0]["attempts"] > before["attempts"]
        ),
        60,
        "the failed task to run again",
    )
    log = smedgekit.answer(
        farm,
        f"""
        log = get_job_dispatch_log([{key!r}])
        print(json.dumps({{str(k): v for k, v in log.items()}}))
        """,
    )
    assert list(log) == [key] and isinstance(log[key], str) and log[key]
    smedgekit.run(farm, f"delete_jobs({key!r}, stop_work=True)")


def test_dispatch_log_says_why_a_paused_job_waits(farm: Farm) -> None:
    key = submit(farm, Name="held", Type="Command", Command="true", Range=1, paused=True)
    log = smedgekit.answer(farm, f"print(json.dumps(list(get_job_dispatch_log({key!r}).values())))")
    assert "paused" in log[0].lower()


def test_update_jobs_sets_each_kind_of_parameter(farm: Farm) -> None:
    key = submit(
        farm, Name="to edit", Type="Maya", Scene="/a.mb", Range="1-10", paused=True,
        ImageFormat=["/r/a.%04d.exr"],
    )  # fmt: skip
    smedgekit.run(
        farm,
        f"""
        key = {key!r}
        update_jobs(key, "Name", "edited")
        update_jobs(key, "note", "a note")
        update_jobs(key, "Range", "5-20")
        update_jobs(key, "Extra", "-rl beauty")
        update_jobs(key, "MAYACAMERA", "shotCam")
        update_jobs(key, "ImageFormat", "/r/b.%04d.exr")
        job = get_jobs(key)[0]
        assert job["Name"] == "edited" and job["Note"] == "a note", job
        assert job["Range"] == "5-20" and job["Extra"] == "-rl beauty", job
        assert job["Camera"] == "shotCam" and job["ImageFormat"] == ["/r/b.%04d.exr"], job
        for parameter, value in (("Status", 3), ("ID", uuid4()), ("WaitForJobID", uuid4()),
                                 ("WaitForWholeJob", 0), ("PacketSize", 5),
                                 ("JobFinishedEvt", "python x.py")):
            try:
                update_jobs(key, parameter, value)
            except SmedgeComponentError as exc:
                assert "not supported" in str(exc), exc
            else:
                raise AssertionError(parameter + " was accepted")
        """,
    )
    view = job(farm, key)
    assert (view["title"], view["start"], view["end"]) == ("edited", 5.0, 20.0)
    assert view["data"]["camera"] == "shotCam"


def test_get_jobs_raw_values_and_pythonize(farm: Farm) -> None:
    key = submit(farm, Name="raw", Type="Nuke", Scene="/c.nk", Range="1-5", Priority=70,
                 paused=True, Note="n")  # fmt: skip
    raw = smedgekit.answer(
        farm,
        f"""
        [raw] = get_jobs({key!r}, get_all_parameters=False)
        assert all(isinstance(value, str) for value in raw.values()), raw
        full = pythonize_job(raw)
        assert full["ID"] == UUID({key!r}) and full["Priority"] == 70, full
        assert isinstance(full["Created"], datetime), full
        assert full["Type"] == "Nuke" and full["Status"] == -1 and full["paused"] is True, full
        assert abs(full["Created"] - datetime.now()) < timedelta(minutes=10), full
        assert get_jobs({key!r})[0] == full
        print(json.dumps(raw))
        """,
    )
    assert raw["Priority"] == "70" and raw["Range"] == "1-5" and raw["Scene"] == "/c.nk"
    assert raw["Type"] == smedgekit.answer(
        farm, "print(json.dumps(str(get_product_info('nuke').type)))"
    )


def test_products_are_the_templates(farm: Farm) -> None:
    found = smedgekit.answer(
        farm,
        """
        products = get_product_info()
        names = sorted(product.name for product in products)
        maya = get_product_info("MAYABATCH")
        assert maya == get_product_info(maya.type) == get_product_info(str(maya.type))
        assert get_product_info("no such product") is None
        scene = find_parameter(maya.parameters, "scene")
        assert scene is not None and scene.name == "Scene" and scene.type == "File"
        assert "Scene" in [p.name for p in maya.required_parameters]
        assert maya.queue == 0 and "maya" in maya.aliases and maya.smedge_class == "maya"
        assert Parameter.from_dict({"type": "String", "settings": {"Name": "X"}}).name == "X"
        again = Product.from_dict({"type": str(maya.type), "name": "Maya", "aliases": ["m"]})
        assert again.type == maya.type
        conformed = conform_job({"type": "maya", "scene": "/s.mb", "range": 7, "camera": "c"})
        assert conformed["Range"] == "7" and conformed["Camera"] == "c", conformed
        assert conformed["Type"] == str(maya.type) and conformed["Scene"] == "/s.mb"
        for bad in ({"Name": "no type"}, {"Type": "Maya", "Range": "1-2"}, "not a dict"):
            try:
                conform_job(bad)
            except ValueError as exc:
                assert isinstance(exc, SmedgeComponentError)
            else:
                raise AssertionError(bad)
        assert find_value({"PrioRity": 5}, "priority") == 5
        assert find_value({}, "x", "d") == "d"
        print(json.dumps(names))
        """,
    )
    assert {"Maya", "Nuke", "FFmpeg", "Command line"} <= set(found)


def test_disable_and_enable_a_product_on_an_engine(farm: Farm) -> None:
    node = farm.nodes()[0]
    smedgekit.run(farm, f"disable_product('Nuke', engines={node['name']!r})")
    key = submit(farm, Name="nuke waits", Type="Nuke", Scene="/c.nk", Range=1)
    reasons = farm.request("GET", f"/api/v1/jobs/{key}/why")["reasons"]
    assert any("excludes template nuke" in reason for reason in reasons), reasons
    smedgekit.run(farm, f"enable_product('nuke', regex={node['name']!r})")
    reasons = farm.request("GET", f"/api/v1/jobs/{key}/why")["reasons"]
    assert not any("excludes template" in reason for reason in reasons), reasons
    smedgekit.run(farm, f"delete_jobs({key!r}, stop_work=True)")


# -- bad input -------------------------------------------------------------------------------
def test_bad_input_raises_smedge_component_error_and_queues_nothing(farm: Farm) -> None:
    before = set(views(farm))
    failed = smedgekit.answer(
        farm,
        """
        good = {"Name": "ok", "Type": "Maya", "Scene": "/s.mb", "Range": "1-2"}
        cases = [
            dict(good, Type="Houdinii"),
            dict(good, Range="ten-twenty"),
            dict(good, Range="1-10,20-30"),
            dict(good, Range="9-1"),
            dict(good, Status=3),
            dict(good, Priority=70000),
            dict(good, Name="x" * 300),
            dict(good, Name="two\\nlines"),
            dict(good, WaitForJobID="not-a-uuid"),
            dict(good, WaitForJobID=uuid4()),
            dict(good, Type="ffmpeg", OutputFile="/o.mp4", InfileOptions="-ss 3"),
            [dict(good, ID="6f7c2a8e-0000-4000-8000-000000000001"),
             dict(good, ID="6f7c2a8e-0000-4000-8000-000000000001")],
            [dict(good, ID="6f7c2a8e-0000-4000-8000-000000000002",
                  WaitForJobID="6f7c2a8e-0000-4000-8000-000000000003"),
             dict(good, ID="6f7c2a8e-0000-4000-8000-000000000003",
                  WaitForJobID="6f7c2a8e-0000-4000-8000-000000000002")],
            [],
            [good, "not a job"],
        ]
        out = []
        for case in cases:
            try:
                submit_jobs(case)
            except SmedgeComponentError as exc:
                out.append([exc.status, isinstance(exc, ValueError), str(exc)])
            else:
                out.append(None)
        for call in (lambda: update_jobs(uuid4(), "Priority", 1),
                     lambda: pause_jobs(uuid4()), lambda: get_job_history(uuid4()),
                     lambda: ids_to_query([]), lambda: ids_to_query([42]),
                     lambda: get_jobs(42)):
            try:
                call()
            except SmedgeComponentError as exc:
                out.append([exc.status, isinstance(exc, (ValueError, TypeError)), str(exc)])
            else:
                out.append(None)
        print(json.dumps(out))
        """,
    )
    assert None not in failed, [n for n, row in enumerate(failed) if row is None]
    statuses = [row[0] for row in failed]
    assert statuses[2] == statuses[4] == statuses[10] == 501  # not supported
    assert statuses[6] == statuses[7] == 400  # refused by the dispatcher
    assert statuses[9] == 404  # waits for a job that does not exist
    assert statuses[15] == statuses[16] == statuses[17] == 404  # no such job
    assert all(row[1] for row in failed[:2] + failed[18:])  # ValueError / TypeError as well
    assert set(views(farm)) == before


def test_an_unauthorised_token_is_refused(farm: Farm) -> None:
    env = smedgekit.smedge_env(farm, token="not-a-token")
    failed = smedgekit.answer(
        farm,
        """
        out = []
        for call in (lambda: get_jobs(), lambda: submit_jobs({"Type": "Maya", "Scene": "/s.mb",
                                                              "Range": 1})):
            try:
                call()
            except SmedgeComponentError as exc:
                out.append(exc.status)
        print(json.dumps(out))
        """,
        env=env,
    )
    assert failed == [401, 401]


def test_an_unreachable_master_is_an_error(farm: Farm) -> None:
    env = smedgekit.smedge_env(farm, SMEDGE_MASTER="127.0.0.1:1", SMEDGE_CONNECT_TIMEOUT="3")
    failed = smedgekit.answer(
        farm,
        """
        try:
            get_jobs()
        except SmedgeComponentError as exc:
            print(json.dumps([exc.status, str(exc)]))
        """,
        env=env,
    )
    assert failed[0] == 0 and "reach" in failed[1]


# -- the example -----------------------------------------------------------------------------
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "compat" / "smedge_submit.py"


def test_the_smedge_submit_example(farm: Farm, tmp_path: Path) -> None:
    env = smedgekit.smedge_env(farm)
    done = subprocess.run(
        [smedgekit.python(), str(EXAMPLE), "/shows/a/scene.mb", "/shows/a/comp.nk", "1-20",
         "--layer", "beauty", "--layer", "shadow", "--paused",
         "--on-finished", "python3 /sw/notify.py $(ID) $(Name.Enquote)"],
        capture_output=True, text=True, env=env, timeout=120, cwd=str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [line.split(" ", 1) for line in done.stdout.splitlines()]
    assert [name for _, name in lines] == ["Render - beauty", "Render - shadow", "Comp layers"]
    beauty, shadow, comp = (job(farm, key) for key, _ in lines)
    assert all(view["paused"] for view in (beauty, shadow, comp))
    assert comp["priority"] == 55 and comp["per_frame"] is True
    assert {dep["job"] for dep in comp["depends_on"]} == {beauty["id"], shadow["id"]}
    [event] = [view for view in views(farm).values() if view["title"] == "Comp layers (JobFinishedEvt)"
               and view["depends_on"][0]["job"] == comp["id"]]  # fmt: skip
    assert event["command"] == ["python3", "/sw/notify.py", comp["uuid"], "Comp layers"]
    bad = subprocess.run(
        [smedgekit.python(), str(EXAMPLE), "/s.mb", "/c.nk", "ten-twenty"],
        capture_output=True, text=True, env=env, timeout=120, cwd=str(tmp_path),
    )  # fmt: skip
    assert bad.returncode == 1 and "Range" in bad.stderr


# -- the dispatcher's side, through REST ---------------------------------------------------
def test_event_commands_through_rest_are_checked_and_atomic(farm: Farm) -> None:
    before = set(views(farm))
    base = {"title": "rest events", "template": "cmdline", "command": ["true"]}
    for events, status in (
        (["JobFinishedEvt"], 400),
        ({"JobFinishedEvt": 7}, 400),
        ({"JobFinishedEvt": "echo $(Nope)"}, 400),
        ({"JobStartedEvt": "echo"}, 400),
        ({"JobFinishedEvt": "echo 'unclosed"}, 400),
    ):
        with pytest.raises(ApiError) as refused:
            farm.request("POST", "/api/v1/jobs/", {**base, "data": {"smedge": {"events": events}}})
        assert refused.value.status == status and "events" in str(refused.value.body)
    # A batch whose second job is refused queues neither job nor event job.
    good = {**base, "data": {"smedge": {"events": {"JobFinishedEvt": "echo $(ID)"}}}}
    with pytest.raises(ApiError):
        farm.request("POST", "/api/v1/jobs/", [good, {"title": "x", "template": "nope"}])
    assert set(views(farm)) == before


def test_titles_repeat_only_when_asked(farm: Farm) -> None:
    spec = {"title": "twice", "template": "cmdline", "command": ["true"], "paused": True}
    first = farm.request("POST", "/api/v1/jobs/", spec)
    with pytest.raises(ApiError) as refused:
        farm.request("POST", "/api/v1/jobs/", spec)
    assert refused.value.status == 409
    second = farm.request("POST", "/api/v1/jobs/?unique_titles=false", spec)
    assert second["title"] == first["title"] and second["id"] != first["id"]
    with pytest.raises(ApiError) as bad:
        farm.request("POST", "/api/v1/jobs/?unique_titles=maybe", spec)
    assert bad.value.status == 400


def test_the_package_runs_on_python_37(farm: Farm) -> None:
    interpreter = python37()
    if interpreter is None:
        pytest.skip("no Python 3.7 interpreter here (the syntax is checked by the unit test)")
    found = smedgekit.answer(
        farm,
        """
        import sys
        assert sys.version_info[:2] == (3, 7)
        first, second = uuid4(), uuid4()
        ids = submit_jobs([
            {"ID": first, "Name": "py37", "Type": "Maya", "Scene": "/s.mb", "Range": "1-5"},
            {"ID": second, "Name": "py37 comp", "Type": "Nuke", "Scene": "/c.nk", "Range": "1-5",
             "WaitForJobID": first, "WaitForWholeJob": 0, "JobFinishedEvt": "echo $(ID)"},
        ], paused=True)
        jobs = get_jobs(ids_to_query(ids))
        [comp] = get_jobs(["ID", "=", str(second)])
        assert comp["WaitForJobID"] == [first] and isinstance(comp["Created"], datetime)
        update_jobs(ids, "Priority", 20)
        history = get_job_history(ids)
        print(json.dumps(sorted(job["Name"] for job in jobs) + [len(history)]))
        """,
        interpreter=interpreter,
    )
    assert found == ["py37", "py37 comp", 2]


def test_an_artist_manages_only_their_own_jobs(farm: Farm) -> None:
    farm.request(
        "POST", "/api/v1/users/",
        {"name": "artist", "password": "artist-password", "permissions": ["submit", "manage_own"]},
    )  # fmt: skip
    token = farm.request(
        "POST", "/api/v1/login", {"username": "artist", "password": "artist-password"}, token=""
    )["token"]
    env = smedgekit.smedge_env(farm, token=token)
    theirs = submit(farm, Name="admin's", Type="Command", Command="true", Range=1, paused=True)
    mine = smedgekit.answer(
        farm,
        """
        [mine] = submit_jobs({"Name": "artist's", "Type": "Command", "Command": "false",
                              "Range": 1}, paused=True)
        print(json.dumps(str(mine)))
        """,
        env=env,
    )
    # No retry, set before it runs (a render client fails it three times in milliseconds).
    farm.request("PATCH", f"/api/v1/jobs/{mine}", {"requeue": 0, "paused": False})
    farm.wait_state(job(farm, mine)["id"], "failed")
    attempts = farm.request("GET", f"/api/v1/jobs/{mine}/tasks/")[0]["attempts"]
    refused = smedgekit.answer(
        farm,
        f"""
        out = []
        for call in (lambda: update_jobs({theirs!r}, "Priority", 1),
                     lambda: pause_jobs({theirs!r}), lambda: delete_jobs({theirs!r}),
                     lambda: reset_job_failures({mine!r})):
            try:
                call()
            except SmedgeComponentError as exc:
                out.append(exc.status)
        update_jobs({mine!r}, "Note", "mine to edit")
        print(json.dumps(out))
        """,
        env=env,
    )
    assert refused == [403, 403, 403, 403]
    assert job(farm, theirs)["priority"] == 50 and job(farm, theirs)["paused"]
    assert job(farm, mine)["notes"] == "mine to edit" and job(farm, mine)["state"] == "failed"
    assert farm.request("GET", f"/api/v1/jobs/{mine}/tasks/")[0]["attempts"] == attempts


def test_a_submit_whose_answer_is_lost_is_sent_again_and_queued_once(tmp_path: Path) -> None:
    slow = tmp_path / "slow.toml"
    slow.write_text("debug_submit_answer_delay_s = 3\n")  # each fresh submit answers late
    farm = Farm(tmp_path / "data", ["--config", str(slow)]).start()
    try:
        env = smedgekit.smedge_env(farm, SMEDGE_CONNECT_TIMEOUT="1")
        found = smedgekit.answer(
            farm,
            """
            ids = submit_jobs([{"Name": "late", "Type": "Maya", "Scene": "/s.mb", "Range": 1},
                               {"Name": "late 2", "Type": "Maya", "Scene": "/s.mb", "Range": 1}])
            print(json.dumps([str(item) for item in ids]))
            """,
            env=env,
        )
        listing = farm.request("GET", "/api/v1/jobs/")
        assert sorted(view["uuid"] for view in listing) == sorted(found)  # queued once
    finally:
        farm.close()
