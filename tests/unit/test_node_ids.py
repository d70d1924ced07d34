"""Queue.new_node_id: an id past every node's, never handed out twice, in constant time."""

from __future__ import annotations

from dispatcher.model import Node
from dispatcher.queue import Queue
from dispatcher.store.memory import MemoryStore
from dispatcher.store.sqlite import Snapshot


def test_new_ids_follow_the_highest_and_are_never_reused() -> None:
    queue = Queue(MemoryStore())
    assert queue.new_node_id() == 1
    assert queue.new_node_id() == 2  # handed out, even if never added
    queue.nodes[7] = Node(id=7, name="added-by-someone-else")
    assert queue.new_node_id() == 8
    node = Node(id=queue.new_node_id(), name="last")
    queue.nodes[node.id] = node
    del queue.nodes[node.id]  # the highest node removed: its id stays used
    assert queue.new_node_id() == node.id + 1


def test_loaded_nodes_in_any_order_set_the_floor() -> None:
    queue = Queue(MemoryStore())
    nodes = [Node(id=node_id, name=f"n{node_id}") for node_id in (12, 30, 4)]
    queue.load(Snapshot(meta={}, jobs=[], nodes=nodes, users={}))
    assert queue.new_node_id() == 31
