"""A job's REST forms (dispatcher/views.py job_view, dispatcher/pyfarm.py job_answer): the
PyFarm answer carries every field of the view, in its order, with PyFarm's types."""

from __future__ import annotations

import datetime
from typing import Any

from dispatcher import pyfarm
from dispatcher.jobspec import build_job, parse_spec
from dispatcher.model import (
    CHUNK_DONE,
    CHUNK_FAILED,
    CHUNK_RUNNING,
    CHUNK_SKIPPED,
    Dependency,
    DependMode,
    Job,
    JobKind,
)
from dispatcher.views import chunk_counts, job_progress, job_view

# The fields the PyFarm answer shows in PyFarm's types rather than the view's.
RETYPED = {"start", "end", "by", "environ", "project", "time_submitted", "time_started",
           "time_finished"}  # fmt: skip


def make_job(job_id: int, frames: str = "1-20", **spec: Any) -> Job:
    fields = {"title": f"job {job_id}", "frames": frames, "batch": 2, "command": ["x"], **spec}
    job = build_job(parse_spec(fields), job_id, job_id, "ana")
    job.time_submitted = 1_700_000_000.25
    return job


def pyfarm_time(timestamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds")


def test_the_answer_holds_the_views_fields_in_its_order() -> None:
    parent = make_job(1, pools=["render", "gpu"], environ={"A": "b"}, project="p")
    job = make_job(2, frames="1.5-3.5", pools=["render"])
    job.depends_on = [Dependency(1, DependMode.ALWAYS)]
    job.time_started, job.time_finished = 1_700_000_010.0, None
    job.set_chunk(0, CHUNK_RUNNING)
    for each, children in ((parent, [2]), (job, [])):
        view, answer = job_view(each), pyfarm.job_answer(each, {1: parent, 2: job}, children)
        assert list(answer)[: len(view)] == list(view)
        assert {name: value for name, value in answer.items() if name in view and
                name not in RETYPED} == {n: v for n, v in view.items() if n not in RETYPED}  # fmt: skip
    answer = pyfarm.job_answer(job, {1: parent, 2: job})
    assert (answer["start"], answer["end"], answer["by"]) == (1.5, 3.5, 1.0)
    assert answer["environ"] is None and answer["project"] is None
    assert answer["time_submitted"] == "2023-11-14T22:13:20.250000"
    assert answer["time_started"] == "2023-11-14T22:13:30.000000"
    assert answer["time_finished"] is None
    assert answer["kind"] == "job" and answer["state"] == "running"
    assert answer["depends_on"] == [{"job": 1, "mode": "always"}]
    assert answer["parents"] == [{"id": 1, "title": "job 1"}]
    assert answer["jobqueue"] == "render"
    assert pyfarm.job_answer(parent, {1: parent, 2: job}, [2])["children"] == [
        {"id": 2, "title": "job 2"}
    ]
    assert pyfarm.job_answer(parent, {1: parent})["environ"] == {"A": "b"}


def test_failed_tasks_are_named_by_the_run_of_task_ids_they_fall_in() -> None:
    job = make_job(3)  # ten chunks
    job.task_ids = [[0, 500, 1.0], [4, 900, 2.0], [7, 40, 3.0]]
    assert pyfarm.job_answer(job, {})["tasks_failed"] == []
    for index in (0, 3, 4, 6, 7, 9):
        job.set_chunk(index, CHUNK_FAILED)
    job.set_chunk(5, CHUNK_DONE)
    failed = pyfarm.job_answer(job, {})["tasks_failed"]
    assert failed == [500, 503, 900, 902, 40, 42]
    assert failed == [job.task_id(index) for index in (0, 3, 4, 6, 7, 9)]
    assert pyfarm.job_answer(job, {})["task_ids"] == [[0, 500], [4, 900], [7, 40]]
    job.task_ids = []  # a job stored before task ids were given: -1, as Job.task_id says
    assert pyfarm.job_answer(job, {})["tasks_failed"] == [-1] * 6


def test_times_are_formatted_as_pyfarm_shows_them_each_time_asked() -> None:
    for timestamp in (1_700_000_000.0, 1_700_000_000.5, 1_234_567_890.123456, 0.0, -1.5):
        text = pyfarm_time(timestamp)
        assert pyfarm.time_text(timestamp) == text
        assert pyfarm.time_text(timestamp) == text  # the second time, from the formatted ones
    assert pyfarm.time_text(None) is None
    assert pyfarm.time_text(1e300) is None  # no datetime shows it


def test_progress_and_counts_come_from_the_counters() -> None:
    job = make_job(4, frames="1-6")  # three chunks
    assert job_progress(job) == 0.0
    job.set_chunk(0, CHUNK_DONE)
    assert job_progress(job) == 0.3333
    job.set_chunk(1, CHUNK_SKIPPED)
    job.set_chunk(2, CHUNK_FAILED)
    assert job_progress(job) == 0.6667 == round(job.progress, 4)
    assert chunk_counts(job) == {"total": 3, "queued": 0, "running": 0, "done": 1,
                                 "failed": 1, "skipped": 1}  # fmt: skip
    folder = Job(id=5, title="f", kind=JobKind.FOLDER)
    assert job_progress(folder) == 1.0
    assert chunk_counts(folder)["total"] == 0
    assert job_view(folder)["state"] == "queued" and job_view(folder)["kind"] == "folder"
    assert pyfarm.job_answer(job, {})["state"] == "failed"
