"""Assign views kept between dispatch passes (dispatcher/assign_views.py): encoded once
per job and platform, made again after every change of the job or the repositories,
the same bytes as a view made fresh, and never more than the cap."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from dispatcher import paths
from dispatcher import protocol as p
from dispatcher.assign_views import AssignViews
from dispatcher.errors import StoreError
from dispatcher.model import Job
from dispatcher.queue import Queue
from dispatcher.store import rows
from dispatcher.store.batch import Refusal
from dispatcher.views import job_fields
from tests.unit.test_scheduler import Farm

REPOSITORY = {"name": "proj", "windows": "P:\\proj", "linux": "/mnt/proj", "mac": "/Volumes/p"}


def raw(view: dict[str, Any]) -> bytes:
    """The encoded bytes of a view (a msgspec.Raw typed as the Assign's field)."""
    assert isinstance(view, msgspec.Raw)
    return bytes(view)


def fields_of(view: dict[str, Any]) -> dict[str, Any]:
    decoded: dict[str, Any] = msgspec.msgpack.decode(raw(view))
    return decoded


def fresh(job: Job, platform: str = "", repositories: list[dict[str, Any]] | None = None) -> bytes:
    """The bytes of a view made now (what send_assigns encoded on every pass)."""
    fields = job_fields(job)
    if platform:
        fields = paths.translate_job(fields, repositories or [], platform)
    return raw(p.preencoded(fields))


def test_a_view_is_encoded_once_and_reused_while_the_job_stays_the_same() -> None:
    farm = Farm()
    job = farm.submit(frames="1-9", command=["render"], notes="first")
    kept = AssignViews(farm.queue.jobs)
    first = kept.view(job, "")
    assert kept.view(job, "") is first and kept.view(job, "") is first
    assert kept.encoded == 1
    assert raw(first) == fresh(job)
    assert fields_of(first)["notes"] == "first"


def _pool_rename(queue: Queue, job: Job) -> None:
    job.pools = ["renamed"]  # (what operations/pools.py's rename does, then refresh)
    queue.refresh(job)


EDITS: dict[str, Callable[[Queue, Job], object]] = {
    "notes": lambda queue, job: queue.edit(job, {"notes": "second"}),
    "priority": lambda queue, job: queue.edit(job, {"priority": 90}),
    "pause": lambda queue, job: queue.pause(job),
    "frames": lambda queue, job: queue.edit(job, {"end": job.end + 1}),
    "pool rename": _pool_rename,
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_every_change_of_the_job_gives_a_new_view(edit: str) -> None:
    farm = Farm()
    job = farm.submit(frames="1-9", command=["render"], notes="first", pools=["a"])
    kept = AssignViews(farm.queue.jobs)
    before = raw(kept.view(job, ""))
    EDITS[edit](farm.queue, job)
    after = kept.view(job, "")
    assert kept.encoded == 2
    assert raw(after) == fresh(job) and raw(after) != before


def test_a_refused_edit_taken_back_gives_the_stored_view_again() -> None:
    farm = Farm()
    job = farm.submit(frames="1-3", command=["render"], notes="stored")
    stored = rows.job_from_row((job.id, rows.job_spec(job), *rows.job_chunks(job)))
    kept = AssignViews(farm.queue.jobs)
    farm.queue.edit(job, {"notes": "refused"})
    assert fields_of(kept.view(job, ""))["notes"] == "refused"
    farm.queue.take_back(Refusal(StoreError("disk full"), jobs={job.id: stored}))
    assert job.notes == "stored"
    assert fields_of(kept.view(job, ""))["notes"] == "stored"


def test_a_job_object_put_in_its_place_gets_its_own_view() -> None:
    farm = Farm()
    job = farm.submit(frames="1-3", command=["render"], notes="old")
    kept = AssignViews(farm.queue.jobs)
    kept.view(job, "")
    loaded = rows.job_from_row((job.id, rows.job_spec(job), *rows.job_chunks(job)))
    loaded.notes = "reloaded"  # (same id, same version: another object)
    assert loaded.version == job.version
    farm.queue.replace_all([loaded])
    assert fields_of(kept.view(loaded, ""))["notes"] == "reloaded"


def test_translated_views_follow_the_repositories() -> None:
    farm = Farm()
    job = farm.submit(frames="1-3", command=["render"], subst=["scene"],
                      data={"scene": "P:\\proj\\a.ma"})  # fmt: skip
    kept = AssignViews(farm.queue.jobs)
    repositories = [dict(REPOSITORY)]
    kept.repositories_are(repositories)
    linux = kept.view(job, paths.LINUX)
    assert fields_of(linux)["data"]["scene"] == "/mnt/proj/a.ma"
    assert raw(linux) == fresh(job, paths.LINUX, repositories)
    untranslated = kept.view(job, "")
    kept.repositories_are([dict(REPOSITORY)])  # the same again: kept
    assert kept.view(job, paths.LINUX) is linux
    moved = [{**REPOSITORY, "linux": "/net/proj"}]
    kept.repositories_are(moved)
    assert fields_of(kept.view(job, paths.LINUX))["data"]["scene"] == "/net/proj/a.ma"
    assert kept.view(job, "") is untranslated  # (nothing translated in it)
    assert kept.encoded == 3


def test_views_stay_under_the_cap_dropping_deleted_jobs_first() -> None:
    farm = Farm()
    jobs = [farm.submit(frames="1-3", command=["render"]) for _ in range(5)]
    kept = AssignViews(farm.queue.jobs, max_views=4)
    for job in jobs[:4]:
        kept.view(job, "")
    farm.queue.delete(jobs[3])
    kept.view(jobs[0], "")  # (used again: the most recent)
    kept.view(jobs[4], "")  # over the cap: the deleted job's view goes, then jobs[1]'s
    assert len(kept) == 3
    encoded = kept.encoded
    for job in (jobs[0], jobs[2], jobs[4]):
        kept.view(job, "")
    assert kept.encoded == encoded
    kept.view(jobs[1], "")
    assert kept.encoded == encoded + 1
    with pytest.raises(ValueError, match="max_views"):
        AssignViews(farm.queue.jobs, max_views=0)


def test_frame_texts_are_kept_until_the_frames_or_the_chunks_change() -> None:
    farm = Farm()
    job = farm.submit(frames="1-9", batch=2, command=["render"])
    kept = AssignViews(farm.queue.jobs)
    texts = kept.texts(job)
    assert kept.texts(job) is texts and texts(4) == ("9.0000", "9.0000")
    farm.queue.edit(job, {"end": job.end + 2})
    assert kept.texts(job)(4) == ("9.0000", "10.0000") and kept.texts(job)(5) == (
        "11.0000",
        "11.0000",
    )
    made = kept.texts(job)
    job.chunk_status.append(0)  # (another chunk, whatever made it: made again)
    assert kept.texts(job) is not made
