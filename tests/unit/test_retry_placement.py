"""Where a failed chunk's retry goes: another node when one can run it, a node with
more free memory after an out-of-memory kill. In-memory store, no sockets."""

from __future__ import annotations

from dispatcher.model import Node
from dispatcher.protocol import Result
from tests.unit.test_scheduler import FakeSlot, Farm

MIB = 1024 * 1024


def _online(farm: Farm, memory: dict[int, int] | None = None) -> None:
    slots = farm.slots
    farm.scheduler.online_nodes = lambda: [slot.node for slot in slots.values()]
    if memory is not None:
        farm.scheduler.memory_of = memory.get


def _fail(farm: Farm, slot: FakeSlot, **result: object) -> None:
    ref = slot.refs.pop()
    farm.queue.finish_attempt(Result(ref=ref, ok=False, **result), slot.node.id)  # type: ignore[arg-type]


async def test_a_failed_chunk_goes_to_another_node_and_never_twice_at_once() -> None:
    farm = Farm()
    first, second = farm.node(), farm.node()
    _online(farm)
    job = farm.submit(frames="1-3", command=["x"])
    assert [ref.chunk for ref in await farm.offer(first)] == [0]
    _fail(farm, first)
    # The node that failed chunk 0 takes chunk 1; chunk 0 waits for the other node.
    assert [ref.chunk for ref in await farm.offer(first)] == [1]
    assert [ref.chunk for ref in await farm.offer(second)] == [0]
    assert farm.queue.failed_on == {(job.id, 0): {first.node.id}}
    # Nothing running was handed out again: one attempt per running chunk.
    running = {(ref.job, ref.chunk) for slot in (first, second) for ref in slot.refs}
    assert running == set(farm.queue.running) == {(job.id, 0), (job.id, 1)}
    farm.finish(second, second.refs[0])
    assert (job.id, 0) not in farm.queue.failed_on


async def test_with_one_node_the_retry_runs_there() -> None:
    farm = Farm()
    only = farm.node()
    _online(farm)
    farm.submit(command=["x"], requeue=2)
    await farm.offer(only)
    _fail(farm, only)
    assert [ref.attempt for ref in await farm.offer(only)] == [2]


async def test_an_excluded_or_failed_other_node_does_not_hold_the_retry_back() -> None:
    farm = Farm()
    first, second = farm.node(), farm.node()
    _online(farm)
    job = farm.submit(command=["x"], requeue=5)
    second.node.excluded_jobs.add(job.id)
    await farm.offer(first)
    _fail(farm, first)
    assert [ref.attempt for ref in await farm.offer(first)] == [2]


async def test_out_of_memory_retry_waits_for_a_bigger_node() -> None:
    farm = Farm()
    small, big = farm.node(), farm.node()
    memory = {small.node.id: 100 * MIB, big.node.id: 1000 * MIB}
    _online(farm, memory)
    job = farm.submit(command=["x"])
    await farm.offer(small)
    _fail(farm, small, oom=True, memory_available_bytes=100 * MIB, peak_memory_bytes=99 * MIB)
    assert farm.queue.memory_needed[(job.id, 0)] == 100 * MIB + 1
    assert await farm.offer(small) == []
    reasons = farm.scheduler.why(job, [small.node, big.node], {small.node.id, big.node.id})
    assert any("lack of memory" in reason for reason in reasons), reasons
    assert [ref.attempt for ref in await farm.offer(big)] == [2]


async def test_a_jobs_memory_need_refuses_small_nodes() -> None:
    farm = Farm()
    small, big = farm.node(), farm.node()
    _online(farm, {small.node.id: 100 * MIB, big.node.id: 1000 * MIB})
    job = farm.submit(command=["x"], memory_mb=500)
    assert await farm.offer(small) == []
    refusal = farm.scheduler._refusal(job, small.node)
    assert refusal is not None and "500 MB" in refusal
    assert len(await farm.offer(big)) == 1
    unknown = Node(id=99, name="unknown")
    assert farm.scheduler._refusal(job, unknown) is None  # no report: not refused
