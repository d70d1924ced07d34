"""What a standby dispatcher shows: its view of the farm read again from the store
(Queue, Users, Records `reload`) and its role in the status route (Role.view)."""

from __future__ import annotations

from typing import Any

from dispatcher import listing
from dispatcher.jobspec import parse_spec
from dispatcher.queue import Queue
from dispatcher.records import Records
from dispatcher.roles import LeaderInfo, Role
from dispatcher.store.memory import MemoryStore
from dispatcher.store.sqlite import Snapshot


def _queue_with(*titles: str) -> Queue:
    queue = Queue(MemoryStore())
    for title in titles:
        spec = parse_spec({"title": title, "frames": "1-3", "command": ["/bin/true"]})
        queue.submit([spec], "ann")
    return queue


async def test_a_reloaded_queue_holds_the_snapshot_and_nothing_it_held_before() -> None:
    stored = _queue_with("kept", "added later")
    standby = _queue_with("kept", "deleted since")
    job = stored.jobs[1]
    stored.start_attempt(job, 0, node_id=7)
    snapshot = Snapshot(jobs=list(stored.jobs.values()), nodes=[], users={}, meta={})
    standby.reload(snapshot)
    assert [job.title for job in standby.jobs.values()] == ["kept", "added later"]
    assert set(standby.running) == {(1, 0)} and standby.job_nodes[1][7] == 1
    selection = listing.job_selection(standby, {"state": "running"})
    found = [key async for keys in listing.select(selection, slice_items=10) for key in keys]
    assert [standby.jobs[job_id].title for job_id in found] == ["kept"]  # (the new index)
    assert standby.next_job_id == 3


def test_reloaded_records_take_the_stored_ones_and_bump_only_changed_kinds() -> None:
    class Recorded:
        def put_record(self, kind: str, name: str, info: bytes | None) -> None:
            raise AssertionError("a reload records nothing")

    records = Records(Recorded())
    records.load([("pool", "cpu", b"{}"), ("repository", "r", b'{"path": "/a"}')])
    records.reload(
        [("pool", "gpu", b'{"description": "x"}'), ("repository", "r", b'{"path": "/a"}')]
    )
    assert records.names("pool") == ["gpu"]
    assert records.get("pool", "gpu") == {"description": "x"}
    assert records.revisions["pool"] == 1 and records.revisions["repository"] == 0


def test_a_role_shows_its_epoch_and_the_leader_it_knows() -> None:
    leader = LeaderInfo(epoch=4, http_url="http://farm1:9890", render_address="farm1:9681")
    shown: dict[str, Any] = Role("standby", 0, leader).view()
    assert shown == {"role": "standby", "epoch": 4, "leader_url": "http://farm1:9890",
                     "leader_render": "farm1:9681"}  # fmt: skip
    assert Role("leader", 5, LeaderInfo(epoch=5)).view() == {
        "role": "leader", "epoch": 5, "leader_url": None, "leader_render": None,
    }  # fmt: skip
