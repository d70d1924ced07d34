"""The running-attempts table: a dict whose per-node index follows every change, and
the queue's `runs_on` that reads it (no walk over every running attempt)."""

from __future__ import annotations

import random

import pytest

from dispatcher.queue import Running
from dispatcher.running import RunningTable
from tests.unit.test_scheduler import Farm


def _run(node_id: int, attempt: int = 1) -> Running:
    return Running(node_id, attempt, 0.0)


def _by_walk(table: dict[tuple[int, int], Running], node_id: int) -> list[tuple[int, int]]:
    return [key for key, value in table.items() if value.node_id == node_id]


def test_every_dict_mutator_keeps_the_node_index() -> None:
    table: RunningTable[Running] = RunningTable()
    table[(1, 0)] = _run(7)
    table[(1, 1)] = _run(8)
    table[(2, 0)] = _run(7)
    assert table.on_node(7) == [(1, 0), (2, 0)]
    assert table.on_node(8) == [(1, 1)]
    table[(1, 0)] = _run(8, attempt=2)  # replaced: the chunk moved to node 8
    assert table.on_node(7) == [(2, 0)] and table.on_node(8) == [(1, 1), (1, 0)]
    del table[(1, 1)]
    assert table.pop((2, 0)).node_id == 7
    assert table.pop((9, 9), None) is None
    with pytest.raises(KeyError):
        table.pop((9, 9))
    with pytest.raises(KeyError):
        del table[(9, 9)]
    assert table.on_node(7) == [] and table.nodes() == {8}
    table.setdefault((3, 0), _run(5))
    assert table.setdefault((3, 0), _run(6)).node_id == 5
    table.update({(4, 0): _run(5)}, [((4, 1), _run(6))])
    table |= {(4, 2): _run(6)}
    assert table.on_node(5) == [(3, 0), (4, 0)] and table.on_node(6) == [(4, 1), (4, 2)]
    key, value = table.popitem()
    assert key == (4, 2) and table.on_node(6) == [(4, 1)]
    table.clear()
    assert table == {} and table.nodes() == set() and table.on_node(5) == []
    assert RunningTable([((1, 0), _run(3))]).on_node(3) == [(1, 0)]


def test_the_index_matches_a_walk_after_random_changes() -> None:
    rng = random.Random(16)
    table: RunningTable[Running] = RunningTable()
    plain: dict[tuple[int, int], Running] = {}
    for _ in range(5000):
        key = (rng.randrange(20), rng.randrange(20))
        action = rng.random()
        if action < 0.6:
            value = _run(rng.randrange(8))
            table[key] = plain[key] = value
        elif key in plain:
            del table[key], plain[key]
    assert dict(table) == plain
    for node_id in range(8):
        assert sorted(table.on_node(node_id)) == sorted(_by_walk(plain, node_id))


async def test_runs_on_names_the_node_attempts_from_the_index() -> None:
    farm = Farm()
    first, second = farm.node(), farm.node()
    job = farm.submit(frames="1-4", command=["x"])
    mine = await farm.offer(first)
    theirs = await farm.offer(second)
    assert farm.queue.runs_on(first.node.id) == mine and mine
    assert farm.queue.runs_on(second.node.id) == theirs and theirs
    farm.finish(first, mine[0])
    assert farm.queue.runs_on(first.node.id) == []
    assert farm.queue.runs_on(999) == []
    assert {ref.job for ref in theirs} == {job.id}
