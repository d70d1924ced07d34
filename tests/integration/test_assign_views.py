"""Assign views kept from one dispatch pass to the next (dispatcher/assign_views.py), on
a real farm: after an edit of the job, or of a repository its marked fields are
translated with, the next Assign carries the change."""

from __future__ import annotations

import time
from collections.abc import Callable

from dispatcher import protocol as p
from tests.integration.farm import Farm
from tests.integration.test_input_limits import RawNode


def done(node: RawNode, ref: p.Ref) -> p.Assign:
    """Report `ref` rendered; the next Assign."""
    now = time.time()
    node.send(p.Result(ref=ref, ok=True, exit_code=0, started=now, finished=now))
    assign: p.Assign = node.expect(p.Assign)
    return assign


def test_the_next_assign_carries_the_jobs_edit_and_the_repositorys(
    make_farm: Callable[..., Farm],
) -> None:
    farm = make_farm()
    farm.request(
        "POST",
        "/api/v1/repositories/",
        {"name": "proj", "windows": "P:\\proj", "linux": "/mnt/proj"},
    )
    node = RawNode(farm, "views1")
    job = farm.submit(
        title="views", frames="1-4", command=["true"], notes="first",
        subst=["scene"], data={"scene": "P:\\proj\\a.ma"},
    )  # fmt: skip
    first: p.Assign = node.expect(p.Assign)
    assert (first.job["notes"], first.job["data"]["scene"]) == ("first", "/mnt/proj/a.ma")
    second = done(node, first.ref)
    assert second.job == first.job  # (nothing changed: the same view)
    farm.request("PATCH", f"/api/v1/jobs/{job['id']}", {"notes": "second", "priority": 70})
    third = done(node, second.ref)
    assert (third.job["notes"], third.job["priority"]) == ("second", 70)
    farm.request("PATCH", "/api/v1/repositories/proj", {"linux": "/net/proj"})
    fourth = done(node, third.ref)
    assert fourth.job["data"]["scene"] == "/net/proj/a.ma"
    assert [a.ref.chunk for a in (first, second, third, fourth)] == [0, 1, 2, 3]
