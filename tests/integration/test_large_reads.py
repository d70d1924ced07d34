"""A render client's frames that arrive in large reads (more than a read cycle's budget
handles at once, dispatcher/inbox.py) are all handled, each in its order: every
result is acknowledged in the order it was sent, and a chunk's log sent before its
result is kept (handled after the result, it would have been dropped as stale)."""

from __future__ import annotations

import time
from collections.abc import Callable

from dispatcher import protocol as p
from tests.integration.farm import Farm
from tests.integration.test_input_limits import RawNode


def test_frames_of_large_reads_are_all_handled_in_the_order_sent(
    make_farm: Callable[..., Farm],
) -> None:
    farm = make_farm("--assign-ahead", "4")
    nodes = [RawNode(farm, f"bulk{index}") for index in range(3)]
    job = farm.submit(title="bulk", frames="1-15", command=["true"])
    sent: list[list[p.Ref]] = []
    blobs: list[bytes] = []
    now = time.time()
    for node in nodes:
        refs = [node.expect(p.Assign).ref for _ in range(5)]
        # Thousands of frames ahead of the results: reads over the budget, so the
        # nodes' reads of one cycle wait for later slices, behind each other.
        frames = [p.encode(p.Heartbeat(running=refs)) for _ in range(1500)]
        for ref in refs:
            frames.append(p.encode(p.Log(ref=ref, data=f"chunk {ref.chunk} rendered\n".encode())))
            frames.append(
                p.encode(p.Result(ref=ref, ok=True, exit_code=0, started=now, finished=now))
            )
        sent.append(refs)
        blobs.append(b"".join(frames))
    for node, blob in zip(nodes, blobs, strict=True):
        node.sock.sendall(blob)
    for node, refs in zip(nodes, sent, strict=True):
        assert [node.expect(p.ResultAck).ref for _ in refs] == refs
    farm.wait_state(job["id"], "done")
    for ref in (ref for refs in sent for ref in refs):
        path = f"/api/v1/jobs/{job['id']}/tasks/{farm.task(job['id'], ref.chunk)}/log"
        assert f"chunk {ref.chunk} rendered" in farm.request("GET", path)
