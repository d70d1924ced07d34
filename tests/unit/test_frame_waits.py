"""Per-frame dependency waits (dispatcher/frame_waits.py): the answer for one chunk, and
the skip past the chunks that wait for the same unfinished frames."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher import frame_waits
from dispatcher.jobspec import build_job, parse_spec
from dispatcher.model import (
    CHUNK_DONE,
    CHUNK_FAILED,
    CHUNK_QUEUED,
    CHUNK_RUNNING,
    CHUNK_SKIPPED,
    Dependency,
    DependMode,
    Job,
)


def job(job_id: int, **fields: Any) -> Job:
    fields.setdefault("title", f"job {job_id}")
    return build_job(parse_spec(fields), job_id, job_id, "tester")


def waits_naively(dependant: Job, index: int, jobs: dict[int, Job]) -> bool:
    """The rule itself, frame by frame."""
    first, last = dependant.chunk_frames(index)
    value = first
    while value <= last:
        for dep in dependant.depends_on:
            other = jobs[dep.job_id]
            chunk = other.chunk_of_frame(value)
            if chunk is not None and other.chunk_status[chunk] not in (CHUNK_DONE, CHUNK_SKIPPED):
                return True
        value += dependant.by
    return False


Frames = tuple[int, int, int]  # start, end, by


def pair(parent_frames: Frames, frames: Frames, **fields: Any) -> tuple[Job, Job, dict[int, Job]]:
    start, end, by = parent_frames
    parent = job(1, start=start, end=end, by=by, batch=fields.pop("parent_batch", 1))
    start, end, by = frames
    dependant = job(2, start=start, end=end, by=by, per_frame=True, **fields)
    dependant.depends_on = [Dependency(1, DependMode.SUCCESS)]
    return parent, dependant, {1: parent, 2: dependant}


def test_a_chunk_waits_until_its_frames_are_done_then_runs() -> None:
    parent, dependant, jobs = pair((1, 10, 1), (1, 10, 1))
    assert frame_waits.blocked_until(dependant, 3, jobs) is not None
    assert not frame_waits.dependencies_met(dependant, 3, jobs)
    parent.set_chunk(3, CHUNK_DONE)
    assert frame_waits.blocked_until(dependant, 3, jobs) is None
    assert frame_waits.dependencies_met(dependant, 3, jobs)
    parent.set_chunk(4, CHUNK_SKIPPED)
    assert frame_waits.dependencies_met(dependant, 4, jobs), "a skipped frame counts as done"


def test_a_caught_up_job_skips_to_the_next_done_frames_at_once() -> None:
    parent, dependant, jobs = pair((1, 2000, 1), (1, 2000, 1))
    for index in range(0, 500):
        parent.set_chunk(index, CHUNK_DONE)
    parent.set_chunk(500, CHUNK_RUNNING)
    parent.set_chunk(1200, CHUNK_DONE)
    assert frame_waits.blocked_until(dependant, 500, jobs) == 1200
    assert frame_waits.blocked_until(dependant, 1201, jobs) == 2000, "to the end: none done"


def test_the_skip_follows_batches_on_both_sides() -> None:
    # Parent chunks of 4 frames; the dependant's of 3: chunk k renders frames 3k+1..3k+3.
    parent, dependant, jobs = pair((1, 40, 1), (1, 40, 1), parent_batch=4, batch=3)
    for index in (0, 1, 5, 6):
        parent.set_chunk(index, CHUNK_DONE)  # frames 1-8 and 21-28 done
    # Dependant chunk 2 (frames 7-9) waits for frame 9 (parent chunk 2); parent chunks 2-4
    # (frames 9-20) are unfinished, so chunks starting at frames 10, 13, 16, 19 wait too.
    assert frame_waits.blocked_until(dependant, 2, jobs) == 7
    assert not waits_naively(dependant, 7, jobs)


def test_frames_off_the_other_grid_are_not_skipped() -> None:
    parent, dependant, jobs = pair((2, 40, 2), (1, 40, 1))  # the parent renders even frames only
    assert frame_waits.blocked_until(dependant, 1, jobs) == 2
    assert frame_waits.blocked_until(dependant, 0, jobs) is None, "frame 1 is not the parent's"


def test_only_success_dependencies_of_unfinished_jobs_hold_frames() -> None:
    parent, dependant, jobs = pair((1, 5, 1), (1, 5, 1))
    dependant.depends_on = [Dependency(1, DependMode.FAILURE)]
    assert frame_waits.blocked_until(dependant, 0, jobs) is None
    dependant.depends_on = [Dependency(1, DependMode.SUCCESS), Dependency(99)]
    assert frame_waits.blocked_until(dependant, 0, jobs) is not None
    for index in range(5):
        parent.set_chunk(index, CHUNK_DONE)
    assert frame_waits.blocked_until(dependant, 0, jobs) is None


codes = st.sampled_from((CHUNK_QUEUED, CHUNK_RUNNING, CHUNK_DONE, CHUNK_FAILED, CHUNK_SKIPPED))


@settings(max_examples=300, deadline=None)
@given(
    parent_start=st.integers(0, 6),
    parent_by=st.integers(1, 3),
    parent_batch=st.integers(1, 4),
    start=st.integers(0, 6),
    by=st.integers(1, 4),
    batch=st.integers(1, 4),
    data=st.data(),
)
def test_the_skip_never_passes_a_chunk_that_may_run(
    parent_start: int,
    parent_by: int,
    parent_batch: int,
    start: int,
    by: int,
    batch: int,
    data: st.DataObject,
) -> None:
    parent, dependant, jobs = pair(
        (parent_start, parent_start + 30, parent_by),
        (start, start + 30, by),
        parent_batch=parent_batch,
        batch=batch,
    )
    statuses = data.draw(st.lists(codes, min_size=parent.chunk_count, max_size=parent.chunk_count))
    for index, code in enumerate(statuses):
        parent.set_chunk(index, code)
    assert dependant.by == Decimal(by)
    for index in range(dependant.chunk_count):
        resume = frame_waits.blocked_until(dependant, index, jobs)
        assert (resume is not None) == waits_naively(dependant, index, jobs)
        if resume is not None:
            assert resume > index
            skipped = range(index + 1, min(resume, dependant.chunk_count))
            assert all(waits_naively(dependant, other, jobs) for other in skipped)
