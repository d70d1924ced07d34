"""A result's acknowledgement and the node's next Assign go out in one write, also when
a sliced dispatch pass reaches the node turns later; alone when no Assign comes.

A real dispatcher in the test's loop (real SQLite file, its writer thread); the
sessions are past the handshake and write into a transport that records each write.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from dispatcher import protocol as p
from dispatcher.model import Node
from dispatcher.nodes import SETTLE_WALK_TURNS, NodeServer, NodeSession
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


async def test_a_long_pass_lists_each_session_once_and_settles_idle_ones(
    tmp_path: Path,
) -> None:
    async with live_dispatcher(tmp_path / "d") as live:
        server = live.dispatcher.node_server
        server.scheduler.slice_s = 0.0  # one node a slice: free nodes outnumber a slice
        (worker, worker_writes), *idle = [ready_session(server, index) for index in range(3)]
        worker.node.pools = ["work"]
        await submit(live, "1-2")  # one chunk for each idle node, then nothing for them
        for session, _ in idle:
            server.scheduler.node_free(session)
        await live.wait(lambda: all(recorder.writes for _, recorder in idle), what="assigns")
        # A job no node can take stays indexed: each result's pass looks at the idle
        # nodes again, a slice at a time.
        body: dict[str, Any] = {"title": "nowhere", "frames": "1", "command": ["true"],
                                "pools": ["nowhere"]}  # fmt: skip
        await live.rest("POST", "/api/v1/jobs/", body)
        body = {"title": "work", "frames": "1-60", "batch": 1, "command": ["true"],
                "pools": ["work"]}  # fmt: skip
        await live.rest("POST", "/api/v1/jobs/", body)
        server.scheduler.node_free(worker)
        listed = []
        for turn in range(40):
            if turn == 5:  # the idle nodes' last results, while the pass goes on
                for session, recorder in idle:
                    recorder.writes.clear()
                    (ref,) = session.assigned.values()
                    session.data_received(p.encode(p.Result(ref, True, 0, "", 1.0, 1.0)))
            for _ in range(2000):  # (a few loop turns and a commit; no 50 ms polls)
                if worker.assigned and worker_writes.writes:
                    break
                await asyncio.sleep(0.0005)
            else:
                raise AssertionError("no assign for the working node")
            worker_writes.writes.clear()
            (ref,) = worker.assigned.values()
            worker.data_received(p.encode(p.Result(ref, True, 0, "", 1.0, 1.0)))
            listed.append(len(server._awaiting))
        assert max(listed) <= 3, listed
        assert all(not session.result_at for session, _ in idle)  # reached, given nothing
        for _, recorder in idle:  # their acknowledgements went alone
            assert recorder.writes == [["ResultAck"]]

        # A paused node is no free slot, so no pass reaches it: it is settled all the same.
        await live.wait(lambda: worker.assigned and not worker.assigns_due, what="an assign")
        worker.node.paused = True
        (ref,) = worker.assigned.values()
        worker.data_received(p.encode(p.Result(ref, True, 0, "", 1.0, 1.0)))
        assert worker.result_at and worker.awaiting
        for _ in range(2 * SETTLE_WALK_TURNS):
            await asyncio.sleep(0)
        assert not worker.result_at and not worker.awaiting


async def test_a_session_error_in_the_handshake_names_the_hello(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with live_dispatcher(tmp_path / "d") as live:
        server = live.dispatcher.node_server
        session = NodeSession(server, peer="10.0.0.9:5000")
        session.transport = Recorder()  # type: ignore[assignment]
        session.hello = p.Hello(p.PROTOCOL_VERSION, "named", 2, b"n" * 16)

        def broken() -> str:
            raise RuntimeError("a bug")

        server.refuse_with = broken
        session.data_received(p.encode(p.Hello(p.PROTOCOL_VERSION, "named", 2, b"n" * 16)))
        assert "action=session_error node=named#2 peer=10.0.0.9:5000" in caplog.text
        assert session.closed


async def test_a_deleted_jobs_kept_assign_view_goes_with_it(tmp_path: Path) -> None:
    async with live_dispatcher(tmp_path / "d") as live:
        server = live.dispatcher.node_server
        session, recorder = ready_session(server, 0)
        await submit(live, "1-2")
        server.scheduler.node_free(session)
        await live.wait(lambda: recorder.writes, what="an assign")
        (job_id,) = live.dispatcher.queue.jobs
        assert len(server.assign_views) == 1  # the view is kept for the next pass
        await live.rest("DELETE", f"/api/v1/jobs/{job_id}")
        assert len(server.assign_views) == 0  # and not held once the job is gone
