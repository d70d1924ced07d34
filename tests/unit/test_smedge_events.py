"""Smedge's job event commands as jobs of their own (dispatcher/smedge_events.py): the
variables filled in inside their own arguments, the event jobs built, bad input refused."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from dispatcher import jobspec, smedge_events
from dispatcher.errors import ValidationError

JOB_UUID = "0b7c0a52-3c55-4d8e-9a0b-5f1f2c3d4e5f"


def item(**events: str) -> dict[str, Any]:
    return {
        "title": "My Job", "template": "maya", "uuid": JOB_UUID, "priority": 60,
        "pools": ["maya"], "notes": 'a "note"; $(rm -rf ~)', "parent": -1,
        "data": {"job_file": "/shows/Final/sh010/scene.mb",
                 "smedge": {"params": {"Type": "Maya", "ImageFormat": "/r/a.%04d.exr"},
                            "events": events}},
    }  # fmt: skip


def test_an_event_becomes_a_one_chunk_command_job_after_its_job() -> None:
    items = [item(JobFinishedEvt="python /sw/encode.py $(ID) $(Note.Enquote)")]
    expanded = smedge_events.expand(items, "joe")
    assert len(expanded) == 2 and expanded[0] is items[0]
    event = expanded[1]
    assert event["command"] == ["python", "/sw/encode.py", JOB_UUID, 'a "note"; $(rm -rf ~)']
    assert event["template"] == "cmdline" and event["title"] == "My Job (JobFinishedEvt)"
    assert event["depends_on"] == [{"submitted": 0, "mode": "always"}]
    assert (event["priority"], event["pools"]) == (60, ["maya"])
    spec = jobspec.parse_spec(event)  # a valid job of its own
    assert spec.dependencies([7])[0].job_id == 7


@pytest.mark.parametrize(
    "event, mode", [("JobFinishedEvt", "always"), ("JobCompletedEvt", "success"),
                    ("JobFailedEvt", "failure")],
)  # fmt: skip
def test_each_event_waits_in_its_mode(event: str, mode: str) -> None:
    [_, job] = smedge_events.expand([item(**{event: "true"})], "joe")
    assert job["depends_on"] == [{"submitted": 0, "mode": mode}]


def test_variables_and_modifiers() -> None:
    values = smedge_events._values(item(), "joe")
    command = smedge_events.substitute(
        "run $(scene.path.file) $(Scene.File) $(Scene.Name) $(Scene.Extension) $(Creator) "
        "--type=$(Type) $(imageformat) $(Priority)",
        values,
        "f",
    )
    assert command == ["run", "sh010", "scene.mb", "scene", "mb", "joe", "--type=Maya",
                       "/r/a.%04d.exr", "60"]  # fmt: skip


def test_a_value_never_splits_or_fills_in_again() -> None:
    values = {"note": "$(ID) --flag 'x'", "id": "the-id"}
    assert smedge_events.substitute("cmd $(Note)", values, "f") == ["cmd", "$(ID) --flag 'x'"]


def test_items_without_events_pass_unchanged_and_a_uuid_is_given_when_missing() -> None:
    plain = [{"title": "a"}, "not a job", {"title": "b", "data": {"smedge": {"events": {}}}}]
    assert smedge_events.expand(copy.deepcopy(plain), "joe") == plain
    job = item(JobFinishedEvt="echo $(ID)")
    del job["uuid"]
    [job, event] = smedge_events.expand([job], "joe")
    assert event["command"] == ["echo", job["uuid"]] and len(job["uuid"]) == 36


def test_positions_follow_the_batch() -> None:
    expanded = smedge_events.expand([item(), item(JobFinishedEvt="a"), item(JobFailedEvt="b")], "j")
    assert [e["depends_on"][0]["submitted"] for e in expanded[3:]] == [1, 2]


@pytest.mark.parametrize(
    "events, error",
    [({"JobStartedEvt": "true"}, "not supported"), ({"JobFinishedEvt": "echo $(Nope)"}, "$(Nope)"),
     ({"JobFinishedEvt": "echo $(ID.Upper)"}, ".upper"), ({"JobFinishedEvt": "echo 'open"}, "quotation"),
     ({"JobFinishedEvt": 5}, "command line"), ({"JobFinishedEvt": "x" * 70_000}, "at most")],
)  # fmt: skip
def test_bad_events_are_refused(events: dict[str, Any], error: str) -> None:
    job = item()
    job["data"]["smedge"]["events"] = events
    with pytest.raises(ValidationError, match=re.escape(error)):
        smedge_events.expand([job], "joe")


def test_events_that_are_not_an_object_are_refused() -> None:
    job = item()
    job["data"]["smedge"]["events"] = ["JobFinishedEvt"]
    with pytest.raises(ValidationError, match="an object"):
        smedge_events.expand([job], "joe")
    with pytest.raises(ValidationError, match="empty"):
        smedge_events.substitute("   ", {}, "f")
