"""The dispatcher's (name, instance) index stays right while others add and remove nodes."""

from __future__ import annotations

import random

from dispatcher.model import Node
from dispatcher.nodes import _NodeNames


def test_the_index_agrees_with_a_scan_through_random_changes() -> None:
    rng = random.Random(9)
    nodes: dict[int, Node] = {}
    names = _NodeNames()
    pool = [(f"n{i}", i % 3) for i in range(40)]

    def scan(name: str, instance: int) -> Node | None:
        return next((n for n in nodes.values() if (n.name, n.instance) == (name, instance)), None)

    for _ in range(4000):
        name, instance = rng.choice(pool)
        found = names.find(nodes, name, instance)
        assert found is scan(name, instance)
        roll = rng.random()
        if found is None and roll < 0.4:  # a handshake registers it (told to the index)
            node = Node(id=max(nodes, default=0) + 1, name=name, instance=instance)
            nodes[node.id] = node
            names.added(nodes, node)
        elif found is None and roll < 0.6:  # discovery adds it behind the index's back
            node = Node(id=max(nodes, default=0) + 1, name=name, instance=instance)
            nodes[node.id] = node
        elif found is not None and roll < 0.3:  # an administrator removes it
            del nodes[found.id]
