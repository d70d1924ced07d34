"""Queue and scheduler together, on the in-memory store: no sockets, no files."""

from __future__ import annotations

import asyncio
from typing import Any

from dispatcher.jobspec import parse_spec
from dispatcher.model import Job, Node, Status
from dispatcher.protocol import Ref, Result
from dispatcher.queue import Queue
from dispatcher.scheduler import Scheduler
from dispatcher.store.memory import MemoryStore


class FakeSlot:
    def __init__(self, node: Node, capacity: int = 1) -> None:
        self.node = node
        self.capacity = capacity
        self.refs: list[Ref] = []

    def free_slots(self) -> int:
        return self.capacity - len(self.refs)

    def take(self, ref: Ref) -> None:
        self.refs.append(ref)


class Farm:
    def __init__(self) -> None:
        self.store = MemoryStore()
        self.queue = Queue(self.store, exclude_after_failures=2)
        self.sent: list[tuple[Any, Ref]] = []
        # (slices long enough that a loaded machine never splits a pass the test awaits)
        self.scheduler = Scheduler(self.queue, self.sent.extend, slice_s=60.0)
        self.queue.on_change = self.scheduler.job_changed
        self.queue.on_remove = self.scheduler.job_removed
        self.slots: dict[int, FakeSlot] = {}

    def submit(self, **fields: Any) -> Job:
        fields.setdefault("title", "job")
        return self.queue.submit([parse_spec(fields)], "tester")[0]

    def node(self, pools: tuple[str, ...] = (), capacity: int = 1) -> FakeSlot:
        node = Node(id=len(self.slots) + 1, name=f"n{len(self.slots) + 1}", pools=list(pools))
        self.queue.nodes[node.id] = node
        slot = FakeSlot(node, capacity)
        self.slots[node.id] = slot
        return slot

    async def offer(self, slot: FakeSlot) -> list[Ref]:
        before = len(slot.refs)
        self.scheduler.node_free(slot)
        await asyncio.sleep(0)
        return slot.refs[before:]

    def finish(self, slot: FakeSlot, ref: Ref, ok: bool = True, killed: bool = False) -> bool:
        slot.refs.remove(ref)
        return self.queue.finish_attempt(Result(ref=ref, ok=ok, killed=killed), slot.node.id)


async def test_priority_then_submit_order() -> None:
    farm = Farm()
    low = farm.submit(priority=10)
    first_high = farm.submit(priority=90)
    second_high = farm.submit(priority=90)
    slot = farm.node()
    order = []
    for _ in range(3):
        (ref,) = await farm.offer(slot)
        order.append(ref.job)
        farm.finish(slot, ref)
    assert order == [first_high.id, second_high.id, low.id]


async def test_pools_and_excluded_pools() -> None:
    farm = Farm()
    gpu_job = farm.submit(pools=["gpu"])
    plain = farm.node()
    assert await farm.offer(plain) == []
    gpu = farm.node(pools=("gpu",))
    assert [ref.job for ref in await farm.offer(gpu)] == [gpu_job.id]
    avoid = farm.submit(excluded_pools=["slow"])
    slow = farm.node(pools=("slow",))
    assert await farm.offer(slow) == []
    # The plain node, still free from before, took it in the same pass.
    assert [ref.job for ref in plain.refs] == [avoid.id]


async def test_max_nodes_limits_concurrency() -> None:
    farm = Farm()
    job = farm.submit(frames="1-4", max_nodes=1)
    a, b = farm.node(), farm.node()
    (ref,) = await farm.offer(a)
    assert await farm.offer(b) == []
    assert "maximum of 1 nodes" in " ".join(farm.scheduler.why(job, [a.node, b.node], {1, 2}))
    farm.finish(a, ref)
    assert len(await farm.offer(b)) == 1


async def test_capacity_takes_several_chunks_ahead() -> None:
    farm = Farm()
    farm.submit(frames="1-10")
    slot = farm.node(capacity=3)
    assert [ref.chunk for ref in await farm.offer(slot)] == [0, 1, 2]


async def test_whole_job_and_per_frame_dependencies() -> None:
    farm = Farm()
    first = farm.submit(frames="1-3")
    whole = farm.submit(frames="1-3", depends_on=[first.id], priority=99)
    per_frame = farm.submit(frames="1-3", depends_on=[first.id], per_frame=True, priority=98)
    slot = farm.node()
    (ref,) = await farm.offer(slot)
    assert ref.job == first.id
    farm.finish(slot, ref)
    (ref,) = await farm.offer(slot)
    assert (ref.job, ref.chunk) == (per_frame.id, 0), "frame 1 of the per-frame job is released"
    farm.finish(slot, ref)
    (ref,) = await farm.offer(slot)
    assert ref.job == first.id
    assert whole.state is Status.QUEUED


async def test_results_are_fenced_by_attempt() -> None:
    farm = Farm()
    job = farm.submit(frames="1", requeue=1)
    slot = farm.node()
    (ref,) = await farm.offer(slot)
    stale = Ref(ref.job, ref.chunk, ref.attempt + 5)
    slot.refs.append(stale)
    assert not farm.finish(slot, stale)
    assert farm.finish(slot, ref, ok=False)
    (retry,) = await farm.offer(slot)
    assert retry.attempt == ref.attempt + 1
    assert not farm.queue.finish_attempt(Result(ref=ref, ok=True), slot.node.id), "old attempt"
    assert farm.finish(slot, retry, ok=False)
    assert job.state is Status.FAILED and "failed 2 times" in job.failed_reason


async def test_admin_kill_counts_neither_retry_nor_exclusion() -> None:
    farm = Farm()
    job = farm.submit(frames="1", requeue=0)
    slot = farm.node()
    (ref,) = await farm.offer(slot)
    farm.finish(slot, ref, ok=False, killed=True)
    assert job.chunk_failures[0] == 0 and job.state is Status.QUEUED
    assert job.id not in slot.node.excluded_jobs


async def test_repeated_failures_exclude_the_node() -> None:
    farm = Farm()
    job = farm.submit(frames="1-5", requeue=10)
    slot = farm.node()
    for _ in range(2):
        (ref,) = await farm.offer(slot)
        farm.finish(slot, ref, ok=False)
    assert job.id in slot.node.excluded_jobs
    assert await farm.offer(slot) == []
    other = farm.node()
    assert len(await farm.offer(other)) == 1


async def test_reinit_keeps_attempt_numbers_and_store_restores_state() -> None:
    farm = Farm()
    job = farm.submit(frames="1-2")
    slot = farm.node()
    (ref,) = await farm.offer(slot)
    farm.finish(slot, ref)
    farm.queue.reinit(job)
    (again,) = await farm.offer(slot)
    assert again.chunk == 0 and again.attempt == 2
    (restored,) = farm.store.restored()
    assert bytes(restored.chunk_status) == bytes(job.chunk_status)
    assert list(restored.chunk_attempts) == list(job.chunk_attempts)
    assert restored.title == job.title and restored.start == job.start


async def test_paused_job_and_deleted_job_leave_the_index() -> None:
    farm = Farm()
    job = farm.submit(frames="1-2", paused=True)
    slot = farm.node()
    assert await farm.offer(slot) == []
    farm.queue.resume(job)
    (ref,) = await farm.offer(slot)
    killed: list[Ref] = []
    farm.queue.on_kill = lambda r, node: killed.append(r)
    farm.queue.delete(job)
    assert killed == [ref] and job.id not in farm.scheduler.indexed
    assert not farm.queue.finish_attempt(Result(ref=ref, ok=True), slot.node.id)


async def test_a_sliced_pass_over_nodes_with_nothing_for_them_ends() -> None:
    farm = Farm()
    farm.scheduler.slice_s = 0.0  # (a slice looks at one node)
    farm.submit(pools=["gpu"])  # indexed, and no node here can take it
    slots = [farm.node() for _ in range(4)]
    for slot in slots:
        farm.scheduler.free[slot.node.id] = slot
    slices = 0
    dispatch = farm.scheduler._dispatch

    def counted() -> None:
        nonlocal slices
        slices += 1
        dispatch()

    farm.scheduler._dispatch = counted  # type: ignore[method-assign]
    farm.scheduler.kick()
    for _ in range(20):
        await asyncio.sleep(0)
    assert slices == 4  # one slice a node, then the pass is over: no slice for ever
    assert not farm.scheduler.unreached and len(farm.scheduler.free) == 4
    gpu = farm.node(pools=("gpu",))  # a change begins a new pass over every free node
    farm.scheduler.node_free(gpu)
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(gpu.refs) == 1 and slices == 4 + 5
