"""Per-frame dependencies: which chunks of a job wait for frames of the jobs it depends on.

A job submitted with `per_frame` and dependencies of mode `success` runs chunk i
only once every frame of chunk i that a dependency renders is done (or skipped)
there. Checking chunk after chunk costs one look per queued chunk; a job that
caught up with the job it depends on would be walked to its end on every change.
`blocked_until` answers for one chunk and, when the chunk waits, says from which
later chunk the search may go on: the chunks in between wait for the same run of
unfinished chunks of the other job, so they need not be looked at one by one.
"""

from __future__ import annotations

from collections.abc import Mapping

from dispatcher.model import CHUNK_DONE, CHUNK_SKIPPED, DependMode, Job, Status

FRAME_DONE = (CHUNK_DONE, CHUNK_SKIPPED)


def blocked_until(job: Job, index: int, jobs: Mapping[int, Job]) -> int | None:
    """None when chunk `index` of `job` waits for no frame of another job; else the
    first later chunk index that may not wait (every chunk before it waits too)."""
    first, last = job.chunk_frames(index)
    for dep in job.depends_on:
        other = jobs.get(dep.job_id)
        if other is None or dep.mode is not DependMode.SUCCESS or other.state is Status.DONE:
            continue
        value = first
        while value <= last:
            chunk = other.chunk_of_frame(value)
            if chunk is not None and other.chunk_status[chunk] not in FRAME_DONE:
                return _resume(job, index, other, chunk)
            value += job.by
    return None


def dependencies_met(job: Job, index: int, jobs: Mapping[int, Job]) -> bool:
    """Whether every frame of chunk `index` that a per-frame dependency renders is done."""
    return blocked_until(job, index, jobs) is None


def _resume(job: Job, index: int, other: Job, chunk: int) -> int:
    """Where to look next after chunk `index` of `job` waits for chunk `chunk` of `other`.

    The unfinished chunks of `other` from `chunk` on, up to its next done or skipped
    one, render one unbroken stretch of its frames. When every frame of `job` falls
    on `other`'s frame grid, each later chunk of `job` that starts inside that
    stretch waits for one of them: skip to the first chunk that starts past it.
    """
    after = index + 1
    if job.whole_range or other.whole_range:
        return after
    if (job.start - other.start) % other.by or job.by % other.by:
        return after  # (frames off the other job's grid are not waited for)
    ends = [
        found for code in FRAME_DONE if (found := other.chunk_status.find(code, chunk + 1)) >= 0
    ]
    stretch_end = other.chunk_frames(min(ends) - 1)[1] if ends else other.end
    if stretch_end < job.start:
        return after
    starts_inside = int((stretch_end - job.start) // (job.by * job.batch))
    return max(after, starts_inside + 1)
