"""Dispatch passes in bounded slices, and the checks they save (in-memory store):
a slice gives the loop back before every free node was served, the nodes it did not
reach come first next time, a job full at its max-nodes and a template out of licenses
are passed over for the rest of the slice, a job already indexed is not walked again."""

from __future__ import annotations

import asyncio
from typing import Any

from dispatcher.scheduler import SLICE_S, Scheduler
from tests.unit.test_scheduler import FakeSlot, Farm


async def turns(count: int) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


def served(slots: list[FakeSlot]) -> list[int]:
    return [slot.node.id for slot in slots if slot.refs]


async def test_a_slice_gives_the_loop_back_and_the_pass_goes_on_next_turn() -> None:
    farm = Farm()
    farm.scheduler.slice_s = 0.0  # one node per slice
    farm.submit(frames="1-10")
    slots = [farm.node() for _ in range(3)]
    between: list[list[int]] = []
    for slot in slots:
        farm.scheduler.node_free(slot)
    loop = asyncio.get_running_loop()
    loop.call_soon(lambda: between.append(served(slots)))  # (an HTTP request, say)
    await turns(1)
    assert served(slots) == [slots[0].node.id]
    assert between == [[slots[0].node.id]], "other callbacks ran after the first slice"
    assert farm.scheduler.unreached == {slots[1].node.id, slots[2].node.id}
    await turns(3)
    assert served(slots) == [slot.node.id for slot in slots]
    assert not farm.scheduler.free and not farm.scheduler.unreached


async def test_nodes_a_slice_did_not_reach_come_first_next_time() -> None:
    farm = Farm()
    farm.scheduler.slice_s = 0.0
    farm.submit(frames="1-10", pools=["gpu"])
    idle = [farm.node(pools=("cpu",)) for _ in range(3)]  # nothing for them: they stay free
    gpu = farm.node(pools=("gpu",))
    for slot in [*idle, gpu]:
        farm.scheduler.node_free(slot)
    await turns(len(idle) + 2)
    assert gpu.refs, "the node behind the idle ones was reached"
    assert all(not slot.refs for slot in idle)
    assert set(farm.scheduler.free) == {slot.node.id for slot in idle}


async def test_a_slice_serves_every_free_node_while_its_time_lasts() -> None:
    farm = Farm()  # (its slices are long: no timing in tests)
    assert Scheduler(farm.queue, print).slice_s == SLICE_S > 0
    farm.submit(frames="1-100")
    slots = [farm.node() for _ in range(20)]
    for slot in slots:
        farm.scheduler.node_free(slot)
    await turns(1)
    assert len(served(slots)) == 20


async def test_a_job_full_at_its_max_nodes_leaves_the_index_within_the_slice() -> None:
    farm = Farm()
    capped = farm.submit(frames="1-10", max_nodes=2, priority=90)
    other = farm.submit(frames="1-10", priority=10)
    slots = [farm.node() for _ in range(4)]
    refused: list[str] = []
    refusal = farm.scheduler._refusal

    def counting(job: Any, node: Any) -> str | None:
        reason = refusal(job, node)
        if reason is not None:
            refused.append(reason)
        return reason

    farm.scheduler._refusal = counting  # type: ignore[method-assign]
    for slot in slots:
        farm.scheduler.node_free(slot)
    await turns(1)
    jobs = [slot.refs[0].job for slot in slots]
    assert jobs == [capped.id, capped.id, other.id, other.id]
    assert refused == [], "the later nodes never looked at the full job"
    assert capped.id not in farm.scheduler.indexed
    farm.finish(slots[0], slots[0].refs[0])
    assert capped.id in farm.scheduler.indexed, "a chunk end makes room again"


async def test_a_template_out_of_licenses_is_passed_over_for_the_rest_of_the_slice() -> None:
    farm = Farm()
    scheduler: Scheduler = farm.scheduler
    templates = [{"key": "nuke", "maximum_licenses": 1}]
    scheduler.licenses.templates = lambda: templates
    licensed = [farm.submit(frames="1-10", template="nuke", priority=90) for _ in range(3)]
    plain = farm.submit(frames="1-10", priority=10)
    slots = [farm.node() for _ in range(4)]
    asked: list[str] = []
    wait = scheduler.licenses.wait

    def counting(template: str) -> Any:
        asked.append(template)
        return wait(template)

    scheduler.licenses.wait = counting  # type: ignore[method-assign]
    for slot in slots:
        scheduler.node_free(slot)
    await turns(1)
    jobs = sorted(slot.refs[0].job for slot in slots)
    assert jobs == sorted([licensed[0].id, plain.id, plain.id, plain.id])
    # One look that finds the licenses taken, then none for the slice's later nodes.
    assert asked.count("nuke") == 2


async def test_a_waiting_job_keeps_its_place_until_a_pick_finds_no_chunk_for_it() -> None:
    farm = Farm()
    parent = farm.submit(frames="1-3", priority=10)
    waiting = farm.submit(frames="1-3", depends_on=[parent.id], per_frame=True, priority=90)
    slot = farm.node()
    assert waiting.id not in farm.scheduler.indexed, "no frame of it can run yet"
    (ref,) = await farm.offer(slot)
    assert (ref.job, ref.chunk) == (parent.id, 0)
    farm.finish(slot, ref)
    (ref,) = await farm.offer(slot)
    assert (ref.job, ref.chunk) == (waiting.id, 0)
    farm.finish(slot, ref)
    # Its next chunks wait for frames 2 and 3, but no chunk walk ran on this change:
    assert waiting.id in farm.scheduler.indexed
    (ref,) = await farm.offer(slot)
    assert (ref.job, ref.chunk) == (parent.id, 1), "the pick passed it over"
    assert waiting.id not in farm.scheduler.indexed, "and dropped it"
    farm.finish(slot, ref)
    (ref,) = await farm.offer(slot)
    assert (ref.job, ref.chunk) == (waiting.id, 1)
