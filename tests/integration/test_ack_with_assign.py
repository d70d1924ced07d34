"""A result's acknowledgement and the node's next Assign go out in one write, also when
a sliced dispatch pass reaches the node turns later; alone when no Assign comes.

A real dispatcher in the test's loop (real SQLite file, its writer thread); the
sessions are past the handshake and write into a transport that records each write.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from dispatcher import protocol as p
from dispatcher.model import Node
from dispatcher.nodes import NodeServer, NodeSession
from tests.integration.inprocess import Live, live_dispatcher


class Recorder:
    """A transport that keeps the message types of every write."""

    def __init__(self) -> None:
        self.writes: list[list[str]] = []

    def write(self, data: bytes) -> None:
        self.writes.append([type(p.decode(body)).__name__ for body in p.FrameReader().feed(data)])

    def close(self) -> None:
        return None

    def is_closing(self) -> bool:
        return False


def ready_session(server: NodeServer, index: int) -> tuple[NodeSession, Recorder]:
    node = Node(id=900 + index, name=f"ack{index}", uuid=str(uuid.uuid4()))
    node.online = True
    server.queue.nodes[node.id] = node
    session = NodeSession(server)
    session.handshake_over()
    recorder = Recorder()
    session.transport = recorder  # type: ignore[assignment]
    session.state, session.node = "ready", node
    server.live[node.id] = session
    return session, recorder


async def submit(live: Live, frames: str) -> None:
    body: dict[str, Any] = {"title": f"acks {frames}", "frames": frames, "batch": 1,
                            "command": ["true"]}  # fmt: skip
    await live.rest("POST", "/api/v1/jobs/", body)


async def test_an_ack_waits_for_the_assign_of_a_pass_that_reaches_its_node_later(
    tmp_path: Path,
) -> None:
    async with live_dispatcher(tmp_path / "d") as live:
        server = live.dispatcher.node_server
        server.scheduler.slice_s = 0.0  # one node a slice: the third is reached two turns on
        pairs = [ready_session(server, index) for index in range(3)]
        await submit(live, "1-6")  # two chunks for each node, no more
        for session, _ in pairs:
            server.scheduler.node_free(session)
        await live.wait(lambda: all(recorder.writes for _, recorder in pairs), what="assigns")
        for session, recorder in pairs:
            recorder.writes.clear()
            (ref,) = session.assigned.values()
            session.data_received(p.encode(p.Result(ref, True, 0, "", 1.0, 1.0)))
        await live.wait(lambda: all(recorder.writes for _, recorder in pairs), what="answers")
        await live.wait(lambda: not server._unacked and not server._flushing, what="flushes")
        for _, recorder in pairs:
            assert recorder.writes == [["ResultAck", "Assign"]]

        # The last chunks: each node's ack goes alone once a pass finds nothing for it.
        for session, recorder in pairs:
            recorder.writes.clear()
            (ref,) = session.assigned.values()
            session.data_received(p.encode(p.Result(ref, True, 0, "", 1.0, 1.0)))
        await live.wait(lambda: all(recorder.writes for _, recorder in pairs), what="acks")
        for session, recorder in pairs:
            assert recorder.writes == [["ResultAck"]] and not session.assigned
            assert session.assigns_due == 0 and not session._out
