"""The core's progress events: published once committed, a slice a turn of the loop, in
order, and none after closing (no network)."""

from __future__ import annotations

import asyncio

from dispatcher.events import Event, EventBus, ProgressEvent
from dispatcher.model import Job
from dispatcher.progress import PUBLISH_SLICE, PUBLISH_TURNS, Progress
from dispatcher.store.memory import MemoryStore


def _jobs(count: int) -> dict[int, Job]:
    jobs = {}
    for job_id in range(1, count + 1):
        job = Job(id=job_id, title=f"job {job_id}")
        job.chunk_status, job.counts = bytearray(b"q" * 4), [4, 0, 0, 0, 0]
        jobs[job_id] = job
    return jobs


async def _turns_until(done: asyncio.Event, turns: list[int]) -> None:
    while not done.is_set():
        turns[0] += 1
        await asyncio.sleep(0)


async def _publish_all(
    bus: EventBus, progress: Progress, jobs: dict[int, Job]
) -> list[tuple[int, int]]:
    """Move every job and wait until each is published: (turn of the loop, job) of each
    event in order, a list that goes on taking the events published after."""
    turns, done = [0], asyncio.Event()
    seen: list[tuple[int, int]] = []

    def record(event: Event) -> None:
        assert isinstance(event, ProgressEvent)
        seen.append((turns[0], event.job))
        if len(seen) == len(jobs):
            done.set()

    bus.subscribe(record)
    counter = asyncio.create_task(_turns_until(done, turns))
    for job in jobs.values():
        progress.job_moved(job)
    await asyncio.wait_for(done.wait(), 5.0)
    await counter
    return seen


async def test_many_jobs_moving_are_published_a_slice_a_turn_in_order() -> None:
    bus, jobs = EventBus(), _jobs(5 * PUBLISH_SLICE + 3)
    progress = Progress(bus, MemoryStore(), jobs, lambda: 0.01)
    seen = await _publish_all(bus, progress, jobs)
    assert sorted(job for _, job in seen) == sorted(jobs)
    per_turn: dict[int, int] = {}
    for turn, _ in seen:
        per_turn[turn] = per_turn.get(turn, 0) + 1
    assert max(per_turn.values()) == PUBLISH_SLICE and len(per_turn) == 6

    # A job moving again is published after its earlier event, once per flush.
    seen.clear()
    progress.job_moved(jobs[1])
    progress.job_moved(jobs[1])
    await asyncio.sleep(0.05)
    assert [job for _, job in seen] == [1]
    progress.close()


async def test_a_backlog_is_published_within_a_bounded_number_of_turns() -> None:
    count = 40 * PUBLISH_SLICE
    bus, jobs = EventBus(), _jobs(count)
    progress = Progress(bus, MemoryStore(), jobs, lambda: 0.01)
    seen = [turn for turn, _ in await _publish_all(bus, progress, jobs)]
    assert len(set(seen)) == PUBLISH_TURNS
    assert max(seen.count(turn) for turn in set(seen)) == count // PUBLISH_TURNS
    progress.close()


async def test_closing_publishes_nothing_more() -> None:
    bus, jobs = EventBus(), _jobs(3 * PUBLISH_SLICE)
    progress = Progress(bus, MemoryStore(), jobs, lambda: 0.01)
    published: list[Event] = []

    def record(event: Event) -> None:
        published.append(event)
        if len(published) == PUBLISH_SLICE // 2:  # in the middle of a slice
            progress.close()

    bus.subscribe(record)
    for job in jobs.values():
        progress.job_moved(job)
    await asyncio.sleep(0.1)
    assert len(published) == PUBLISH_SLICE // 2
    progress.close()  # twice: safe


async def test_a_job_deleted_before_its_turn_is_not_published_again() -> None:
    bus, jobs = EventBus(), _jobs(2 * PUBLISH_SLICE)
    progress = Progress(bus, MemoryStore(), jobs, lambda: 0.01)
    published: list[int] = []
    last = max(jobs)

    def record(event: Event) -> None:
        assert isinstance(event, ProgressEvent)
        published.append(event.job)
        if len(published) == 1:  # the first slice is going out: the last job goes now
            del jobs[last]
            progress.job_removed(last)

    bus.subscribe(record)
    for job in list(jobs.values()):
        progress.job_moved(job)
    await asyncio.sleep(0.1)
    assert last not in published and sorted(published) == sorted(jobs)
    progress.close()
