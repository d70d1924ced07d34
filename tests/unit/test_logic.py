"""Template logic on the queue and scheduler (in-memory store): broadcast, target host,
image slicing; and the pure parts of dispatcher/logic.py."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dispatcher import logic
from dispatcher.errors import ValidationError
from dispatcher.model import Node
from hooks.api import template as MTemplateAPI
from tests.unit.test_scheduler import Farm


def test_logic_names_follow_the_template_api_constants() -> None:
    assert logic.from_template(MTemplateAPI.kTemplateMultiframe) == logic.MULTIFRAME
    assert logic.from_template(MTemplateAPI.kTemplateBroadcast) == logic.BROADCAST
    assert logic.from_template(MTemplateAPI.kTemplateTargetHost) == logic.TARGET_HOST
    assert logic.from_template(MTemplateAPI.kTemplateImageSlicing) == logic.IMAGE_SLICING
    assert logic.from_template(99) == logic.MULTIFRAME
    assert logic.muster_packet_type({"muster": {"packetType": 3}}) == logic.BROADCAST
    assert logic.muster_packet_type({"muster": {"packetType": 0}}) is None


def test_names_node_by_label_name_or_host() -> None:
    node = Node(id=1, name="r1", instance=2, host="rack1.studio")
    assert logic.names_node(["r1#2"], node)
    assert logic.names_node(["r1"], node)  # every instance of the host name
    assert logic.names_node(["rack1.studio"], node)
    assert not logic.names_node(["r1#1", "r2"], node)


async def test_broadcast_gives_one_chunk_to_each_eligible_node() -> None:
    farm = Farm()
    a, b = farm.node(), farm.node()
    farm.node(pools=("gpu",))
    job = farm.submit(frames="1-10", batch=2, logic="broadcast", pools=[])
    assert job.hosts == ["n1", "n2", "n3"] and job.chunk_count == 3
    assert job.chunk_frames(1) == (Decimal(1), Decimal(10))  # every chunk: the whole range
    (ref,) = await farm.offer(a)
    assert ref.chunk == 0
    farm.finish(a, ref)
    # n1 ran its chunk: nothing more for it, although chunks 1 and 2 are queued.
    assert await farm.offer(a) == []
    (ref,) = await farm.offer(b)
    assert ref.chunk == 1
    reasons = " ".join(farm.scheduler.why(job, list(farm.queue.nodes.values()), {1}))
    assert "chunk 2 is for node n3, which is not connected" in reasons


async def test_broadcast_respects_pools_and_refuses_when_no_node_fits() -> None:
    farm = Farm()
    farm.node()
    gpu = farm.node(pools=("gpu",))
    job = farm.submit(logic="broadcast", pools=["gpu"])
    assert job.hosts == [gpu.node.label]
    with pytest.raises(ValidationError) as caught:
        farm.submit(logic="broadcast", pools=["none"])
    assert caught.value.field == "hosts"


async def test_target_host_runs_only_on_named_nodes() -> None:
    farm = Farm()
    a, b = farm.node(), farm.node()
    job = farm.submit(frames="1-4", logic="target_host", hosts=["n2"])
    assert job.chunk_count == 4
    assert await farm.offer(a) == []
    assert [ref.job for ref in await farm.offer(b)] == [job.id]
    reasons = farm.scheduler.why(job, [a.node], {1})
    assert any("target hosts (n2)" in reason for reason in reasons), reasons
    with pytest.raises(ValidationError) as caught:
        farm.submit(logic="target_host")
    assert caught.value.field == "hosts"


async def test_image_slicing_assembles_after_every_tile() -> None:
    farm = Farm()
    a, b = farm.node(capacity=4), farm.node()
    job = farm.submit(frames="7", logic="image_slicing", slices=3)
    assert job.chunk_count == 4
    assert all(job.chunk_frames(index) == (Decimal(7), Decimal(7)) for index in range(4))
    tiles = await farm.offer(a)
    assert sorted(ref.chunk for ref in tiles) == [0, 1, 2]  # not the assembling chunk
    assert await farm.offer(b) == []
    reasons = farm.scheduler.why(job, [a.node, b.node], {1, 2})
    assert any("assembling chunk waits for its 3 tiles (0 done)" in r for r in reasons), reasons
    for ref in tiles[:2]:
        farm.finish(a, ref)
    assert await farm.offer(b) == []
    farm.finish(a, tiles[2])
    await farm.offer(a)
    assembled = [ref for ref in a.refs + b.refs if ref.chunk == 3]
    assert len(assembled) == 1
    assert job.chunk_of_frame(Decimal(7)) == 3


def test_image_slicing_needs_one_frame_and_slices() -> None:
    farm = Farm()
    for fields, where in (
        ({"frames": "1-2", "slices": 2}, "frames"),
        ({"frames": "1"}, "slices"),
    ):
        with pytest.raises(ValidationError) as caught:
            farm.submit(logic="image_slicing", **fields)
        assert caught.value.field == where
    with pytest.raises(ValidationError) as caught:
        farm.submit(slices=2)
    assert caught.value.field == "slices"


def test_a_broadcast_job_keeps_its_frames() -> None:
    farm = Farm()
    farm.node()
    job = farm.submit(frames="1-3", logic="broadcast")
    with pytest.raises(ValidationError):
        farm.queue.edit(job, {"end": Decimal(9)})
    assert job.end == Decimal(3)
