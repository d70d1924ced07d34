"""Template logic on a real farm: broadcast runs once on every render-client instance it
was sent to, target host only on the named node, and image slicing runs its tiles and
then, after all of them, the assembling chunk (tile index and count on the command line)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.farm import ApiError, Farm

pytestmark = pytest.mark.integration

APPEND = "import sys, time; open(sys.argv[1], 'a').write(' '.join(sys.argv[2:]) + '\\n')"
TILE = (
    "import sys, time; path = sys.argv[1]\n"
    "open(path, 'a').write('begin ' + sys.argv[2] + '\\n'); time.sleep(0.6)\n"
    "open(path, 'a').write('end ' + sys.argv[2] + ' of ' + sys.argv[3] + '\\n')"
)


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    root = tmp_path_factory.mktemp("logic")
    farm = Farm(root / "farm").start()
    farm.client("bc", "--pool", "bcast", instances=3)
    farm.client("solo")
    farm.wait_nodes(4)
    yield farm
    farm.close()


def nodes_of(farm: Farm, job_id: int) -> list[str]:
    return [str(chunk["node"]) for chunk in farm.chunks(job_id)]


def test_broadcast_runs_once_on_each_node(farm: Farm, tmp_path: Path) -> None:
    out = tmp_path / "runs.txt"
    job = farm.submit(
        logic="broadcast", pools=["bcast"], frames="1-20", batch=5,
        command=[sys.executable, "-c", APPEND, str(out), "{start}-{end}"],
    )  # fmt: skip
    assert job["id"]
    done = farm.wait_state(job["id"], "done", "failed")
    assert done["state"] == "done", done
    assert sorted(nodes_of(farm, job["id"])) == ["bc", "bc#1", "bc#2"]
    assert out.read_text().splitlines() == ["1-20"] * 3


def test_target_host_runs_only_on_the_named_node(farm: Farm) -> None:
    job = farm.submit(logic="target_host", hosts=["bc#1"], frames="1-6", batch=1)
    done = farm.wait_state(job["id"], "done", "failed")
    assert done["state"] == "done", done
    assert set(nodes_of(farm, job["id"])) == {"bc#1"}


def test_a_target_host_job_names_its_hosts(farm: Farm) -> None:
    with pytest.raises(ApiError) as caught:
        farm.submit(logic="target_host")
    assert caught.value.status == 400 and "hosts" in str(caught.value.body)
    with pytest.raises(ApiError) as caught:
        farm.submit(logic="sideways")
    assert caught.value.status == 400 and "logic" in str(caught.value.body)


def test_image_slicing_assembles_after_its_tiles(farm: Farm, tmp_path: Path) -> None:
    out = tmp_path / "tiles.txt"
    job = farm.submit(
        logic="image_slicing", slices=3, frames="12",
        command=[sys.executable, "-c", TILE, str(out), "{slice}", "{slices}"],
    )  # fmt: skip
    done = farm.wait_state(job["id"], "done", "failed")
    assert done["state"] == "done", done
    lines = out.read_text().splitlines()
    # Four nodes were free for three tiles: the assembling chunk waited for all of them.
    assert sorted(lines[:6]) == sorted(
        ["begin 0", "begin 1", "begin 2", "end 0 of 3", "end 1 of 3", "end 2 of 3"]
    )
    assert lines[6:] == ["begin 3", "end 3 of 3"]
    chunks = farm.chunks(job["id"])
    assert [(chunk["start"], chunk["end"]) for chunk in chunks] == [(12, 12)] * 4
