"""Results announced once per job per loop tick (Queue.settle): recorded for the store at
once, told to the scheduler and listeners after, and before any dispatch pass."""

from __future__ import annotations

import asyncio

from dispatcher.model import Job
from dispatcher.protocol import Result
from tests.unit.test_scheduler import Farm


async def test_results_of_one_tick_announce_their_job_once() -> None:
    farm = Farm()
    changed: list[int] = []
    moved: list[int] = []
    scheduler_changed = farm.queue.on_change

    def on_change(job: Job) -> None:
        changed.append(job.id)
        scheduler_changed(job)

    farm.queue.on_change = on_change
    farm.queue.on_progress = lambda job: moved.append(job.id)
    job = farm.submit(frames="1-3", command=["x"])
    slots = [farm.node() for _ in range(3)]
    for slot in slots:
        await farm.offer(slot)
    changed.clear()
    moved.clear()
    for slot in slots:
        (ref,) = slot.refs
        assert farm.queue.finish_attempt(Result(ref=ref, ok=True), slot.node.id, settle_later=True)
    # Recorded at once: the chunks, the job's end, what the store will write.
    assert job.done == 3 and job.time_finished is not None
    assert changed == [] and moved == []
    await asyncio.sleep(0)  # the tick's end
    assert changed == [job.id] and moved == [job.id]
    farm.queue.settle()  # a second call finds nothing
    assert changed == [job.id]


async def test_a_dispatch_pass_settles_first_and_sees_a_requeued_chunk() -> None:
    farm = Farm()
    job = farm.submit(frames="1", command=["x"], requeue=3)
    first, second = farm.node(), farm.node()
    (ref,) = await farm.offer(first)
    assert job.id not in farm.scheduler.indexed  # its only chunk runs: nothing to give
    first.refs.clear()
    farm.queue.finish_attempt(Result(ref=ref, ok=False), first.node.id, settle_later=True)
    farm.scheduler.node_free(second)
    farm.scheduler._dispatch()  # (a pass run before the tick's settle callback)
    assert [(r.chunk, r.attempt) for r in second.refs] == [(0, 2)]


async def test_a_job_deleted_before_the_tick_ends_is_not_announced() -> None:
    farm = Farm()
    changed: list[int] = []
    job = farm.submit(frames="1-2", command=["x"])
    slot = farm.node()
    farm.queue.on_change = lambda job: changed.append(job.id)
    ref = farm.queue.start_attempt(job, 0, slot.node.id)
    farm.queue.finish_attempt(Result(ref=ref, ok=True), slot.node.id, settle_later=True)
    assert changed == []
    farm.queue.jobs.pop(job.id)  # gone (deleted) before the tick's end
    await asyncio.sleep(0)
    assert changed == []


async def test_a_done_chunk_logs_at_debug_a_failed_one_at_info(caplog) -> None:
    farm = Farm()
    job = farm.submit(frames="1-2", command=["x"])
    slot = farm.node()
    done = farm.queue.start_attempt(job, 0, slot.node.id)
    failed = farm.queue.start_attempt(job, 1, slot.node.id)
    with caplog.at_level("DEBUG", logger="dispatcher.queue"):
        farm.queue.finish_attempt(Result(ref=done, ok=True), slot.node.id)
        farm.queue.finish_attempt(Result(ref=failed, ok=False, exit_code=3), slot.node.id)
    levels = {
        r.getMessage().split()[0]: r.levelname for r in caplog.records if "chunk=" in r.getMessage()
    }
    assert levels == {"action=chunk_done": "DEBUG", "action=chunk_failed": "INFO"}
