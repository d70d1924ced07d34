"""`why` on a big farm (in-memory store): it names a bounded number of nodes and
counts the others, so its answer stays short with a thousand nodes."""

from __future__ import annotations

from dispatcher.scheduler import NAMED_NODES
from tests.unit.test_scheduler import Farm


async def test_every_eligible_node_busy_names_some_and_counts_the_rest() -> None:
    farm = Farm()
    job = farm.submit(frames="1-100")
    slots = [farm.node() for _ in range(NAMED_NODES + 5)]
    for slot in slots:
        await farm.offer(slot)
    waiting = farm.submit(frames="1-10", priority=1)
    nodes = [slot.node for slot in slots]
    (reason,) = farm.scheduler.why(waiting, nodes, {node.id for node in nodes})
    assert reason.startswith("every eligible node is busy (n1, n10, ")
    assert reason.endswith(" and 5 more); it waits its turn by priority")
    assert reason.count(", ") == NAMED_NODES - 1
    assert job.state.value == "running"


async def test_refusing_nodes_are_named_up_to_the_cap_then_counted() -> None:
    farm = Farm()
    job = farm.submit(frames="1-10", pools=["gpu"])
    nodes = [farm.node(pools=("cpu",)).node for _ in range(NAMED_NODES + 3)]
    reasons = farm.scheduler.why(job, nodes, {node.id for node in nodes})
    named = [reason for reason in reasons if reason.startswith("node n")]
    assert len(named) == NAMED_NODES
    assert all(reason.endswith(": the node is not in pools gpu") for reason in named)
    assert reasons[-1] == "and 3 more nodes refuse it"


async def test_a_small_farm_names_every_node() -> None:
    farm = Farm()
    job = farm.submit(frames="1-10", pools=["gpu"])
    nodes = [farm.node(pools=("cpu",)).node for _ in range(2)]
    assert farm.scheduler.why(job, nodes, {node.id for node in nodes}) == [
        "node n1: the node is not in pools gpu",
        "node n2: the node is not in pools gpu",
    ]


async def test_free_nodes_that_may_not_take_it_leave_the_busy_ones_named() -> None:
    farm = Farm()
    running = farm.submit(frames="1-10", pools=["gpu"], priority=90)
    gpu = [farm.node(pools=("gpu",)) for _ in range(2)]
    for slot in gpu:
        await farm.offer(slot)
    cpu = [farm.node(pools=("cpu",)) for _ in range(2)]
    for slot in cpu:
        assert await farm.offer(slot) == []  # free, and they stay so
    waiting = farm.submit(frames="1-10", pools=["gpu"], priority=10)
    nodes = [slot.node for slot in [*gpu, *cpu]]
    connected = {node.id for node in nodes}
    assert set(farm.scheduler.free) == {slot.node.id for slot in cpu}
    assert farm.scheduler.why(waiting, nodes, connected) == [
        "every eligible node is busy (n1, n2); it waits its turn by priority"
    ]
    farm.finish(gpu[0], gpu[0].refs[0])
    farm.scheduler.free[gpu[0].node.id] = gpu[0]  # (free, before the pass that fills it)
    assert farm.scheduler.why(waiting, nodes, connected) == [
        "nothing holds it back; it will be dispatched on the next free slot"
    ]
    assert running.state.value == "running"
