"""The translation of Muster's REST job into Corral job specs (dispatcher/muster_job.py)."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from dispatcher import jobspec
from dispatcher.errors import ValidationError
from dispatcher.muster_job import (
    MusterJob,
    chunk_summary,
    folder_spec,
    job_specs,
    job_summary,
    node_summary,
    parse_environment,
)
from dispatcher.views import job_view

TEMPLATE = {"id": 101, "key": "mayaish", "default_priority": 30, "mappings": {"LAYER": "layer"}}


def muster(**fields: Any) -> MusterJob:
    return MusterJob.model_validate({"jobName": "j", "templateId": 101, **fields})


def attribute(value: Any, state: bool = True, subst: bool = False) -> dict[str, Any]:
    return {"value": value, "state": state, "subst": subst}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("A='x'", {"A": "x"}),
        ("A='x, y', B=\"it's\"", {"A": "x, y", "B": "it's"}),
        (
            ", ".join(f"{k}={v!r}" for k, v in {"P": "C:\\a\\b", "Q": "a'b\"c"}.items()),
            {"P": "C:\\a\\b", "Q": "a'b\"c"},
        ),  # fmt: skip
        ("A=plain text, B = 'q' ", {"A": "plain text", "B": "q"}),
    ],
)
def test_environment_text_parses_as_pipelines_write_it(text: str, expected: dict[str, str]) -> None:
    assert parse_environment(text) == expected


@pytest.mark.parametrize("text", ["A='x", "A", "A='x' B='y'", "A='x',,", "='x'"])
def test_a_malformed_environment_names_the_attribute(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_environment(text)
    assert caught.value.field == "attributes.environmental_variables"


def test_keys_land_on_the_spec_and_disabled_attributes_are_ignored() -> None:
    job = muster(
        packetSize=5, includedPools=["a", ""], excludedPools="b,c", dependIds=["", "7", 8],
        dependMode=2, dependLinkMode=1, parentId=0, maximumInstances=3, shot="s1",
        attributes={
            "frames_range": attribute("10-29"), "by_frame": attribute(2),
            "memo": attribute("notes here"), "LAYER": attribute("beauty"),
            "OFF": attribute("x", state=False), "job_file": attribute("/f.ma", subst=True),
            "environmental_variables": attribute("K='v'"),
        },
    )  # fmt: skip
    (spec,) = job_specs(job, TEMPLATE)
    assert spec["template"] == "mayaish" and spec["priority"] == 30  # the template's default
    assert (spec["start"], spec["end"], spec["by"], spec["batch"]) == ("10", "29", "2", 5)
    assert spec["pools"] == ["a"] and spec["excluded_pools"] == ["b", "c"]
    assert spec["depends_on"] == [{"job": 7, "mode": "always"}, {"job": 8, "mode": "always"}]
    assert spec["per_frame"] is True and spec["max_nodes"] == 3
    assert spec["notes"] == "notes here" and spec["environ"] == {"K": "v"}
    assert "OFF" not in spec["data"] and spec["data"]["layer"] == "beauty"
    assert spec["data"]["muster"]["shot"] == "s1" and spec["data"]["muster"]["subst"] == [
        "job_file"
    ]
    parsed = jobspec.parse_spec(spec)  # what the submit operation will accept
    assert parsed.chunk_count() == 2 and parsed.parent == -1


def test_emergency_queue_is_the_top_priority() -> None:
    (spec,) = job_specs(muster(priority=5, emergencyQueue=True), TEMPLATE)
    assert spec["priority"] == 65535


def test_a_post_job_action_is_a_one_chunk_command_job_waiting_for_the_job() -> None:
    job = muster(
        includedPools=["p"],
        attributes={"post_job_action": attribute("/usr/bin/publish --paths '/a b/m.json'")},
    )
    spec, post = job_specs(job, TEMPLATE)
    assert post["template"] == "cmdline"
    assert post["command"] == ["/usr/bin/publish", "--paths", "/a b/m.json"]
    assert post["depends_on"] == [{"submitted": 0, "mode": "always"}]
    assert post["pools"] == ["p"] and "frames" not in post and "start" not in post
    parsed = jobspec.parse_spec(post)
    assert parsed.chunk_count() == 1
    assert [(d.job_id, d.mode.value) for d in parsed.dependencies([41])] == [(41, "always")]
    disabled = muster(attributes={"post_job_action": attribute("x", state=False)})
    assert len(job_specs(disabled, TEMPLATE)) == 1


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        (
            {"attributes": {"frames_range": attribute("ten-twenty")}},
            "attributes.frames_range.value",
        ),
        ({"attributes": {"frames_range": attribute("9-1")}}, "attributes.frames_range.value"),
        ({"attributes": {"frames_range": attribute(True)}}, "attributes.frames_range.value"),
        (
            {"attributes": {"post_job_action": attribute("a 'b")}},
            "attributes.post_job_action.value",
        ),
        ({"dependIds": ["x"]}, "dependIds"),
        ({"dependIds": ["0"]}, "dependIds"),
        ({"jobId": 3}, "jobId"),
        ({"attributes": {"muster": attribute("x")}}, "attributes.muster"),
    ],
)
def test_bad_values_name_their_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        job_specs(muster(**fields), TEMPLATE)
    assert caught.value.field == field


def test_a_submitted_dependency_must_name_an_earlier_job() -> None:
    spec = jobspec.parse_spec({"title": "t", "depends_on": [{"submitted": 1}]})
    with pytest.raises(ValidationError):
        spec.dependencies([5])
    for bad in ({"job": 3, "submitted": 0}, {"mode": "always"}):
        with pytest.raises(ValidationError):
            jobspec.parse_spec({"title": "t", "depends_on": [bad]})
    # Dumped as before for hooks and views: only the target given.
    dumped = jobspec.parse_spec({"title": "t", "depends_on": [{"job": 3}]}).model_dump()
    assert dumped["depends_on"] == [{"job": 3, "mode": "success"}]


def test_a_job_in_muster_keys() -> None:
    (spec,) = job_specs(
        muster(attributes={"frames_range": attribute("1-8"), "A": attribute(1, subst=True)}),
        TEMPLATE,
    )
    job = jobspec.build_job(jobspec.parse_spec(spec), 12, 1, "td")
    summary = job_summary(job_view(job), {"mayaish": 101})
    assert (summary["jobId"], summary["templateId"], summary["owner"]) == (12, 101, "td")
    assert (summary["framesRange"], summary["status"], summary["progress"]) == ("1-8", "queued", 0)
    assert summary["attributes"]["A"] == {"value": 1, "state": True, "subst": True}
    assert "muster" not in summary["attributes"]


def test_a_folder_is_a_folder_spec_without_template_or_attributes() -> None:
    folder = MusterJob.model_validate(
        {"jobName": "seq 030", "jobType": 1, "parentId": 4, "project": "p"}
    )
    assert job_specs(folder, {}) == [folder_spec(folder)]
    assert folder_spec(folder) == {"title": "seq 030", "kind": "folder", "parent": 4,
                                   "project": "p"}  # fmt: skip
    assert jobspec.parse_spec(folder_spec(folder)).kind == "folder"
    with pytest.raises(ValidationError) as caught:
        folder_spec(muster(jobType=1, attributes={"job_file": attribute("/x")}))
    assert caught.value.field == "attributes"
    with pytest.raises(pydantic.ValidationError):
        muster(jobType=2)
    assert muster().templateId == "101" and MusterJob(jobName="n").templateId == ""


def test_a_chunk_and_a_node_in_muster_keys() -> None:
    chunk = {"id": 2, "job_id": 7, "state": "done", "start": 5, "end": 6, "attempts": 1,
             "failures": 0, "node": "r1", "node_id": 3, "progress": 1.0, "frames_done": 2,
             "warnings": 1, "errors": 0, "exit_code": 0, "error": "",
             "time_started": "t0", "time_finished": "t1"}  # fmt: skip
    assert chunk_summary(chunk) == {
        "chunkId": 2, "jobId": 7, "status": "done", "startFrame": 5, "endFrame": 6,
        "attempts": 1, "failures": 0, "node": "r1", "nodeId": 3, "progress": 100.0,
        "framesDone": 2, "warnings": 1, "errors": 0, "exitCode": 0, "error": "",
        "startTime": "t0", "endTime": "t1",
    }  # fmt: skip
    never_ran = chunk_summary({"id": 0, "job_id": 7, "state": "queued", "start": 1, "end": 1,
                               "attempts": 0, "failures": 0, "node": None})  # fmt: skip
    assert (never_ran["exitCode"], never_ran["startTime"], never_ran["progress"]) == (None, None, 0)
    node = {"id": 3, "name": "r1#1", "host_name": "r1", "instance": 1, "address": "a:1",
            "status": "busy", "online": True, "paused": False, "pools": ["p"],
            "platform": "linux", "cpus": 8, "last_seen": "t",
            "running": [{"job": 7, "chunk": 2, "attempt": 1}]}  # fmt: skip
    summary = node_summary(node)
    assert (summary["nodeId"], summary["hostName"], summary["status"]) == (3, "r1", "busy")
    assert summary["running"] == [{"jobId": 7, "chunkId": 2, "attempt": 1}]
