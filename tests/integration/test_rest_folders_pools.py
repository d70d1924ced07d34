"""REST v1 folders, pools, repositories and a node's pools on a real farm: each route's
effect seen through another route or the hook API, and every bad request refused
with nothing changed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.farm import Farm
from tests.integration.hookfarm import script_json, start_farm
from tests.integration.restkit import MAX_REQUEST_BYTES, Write, call, check_refusals, make_user, ok

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Farm, str, str]]:
    root: Path = tmp_path_factory.mktemp("rest-folders")
    farm = start_farm(root / "farm", "--max-request-bytes", str(MAX_REQUEST_BYTES))
    farm.client("alpha")
    node = farm.wait_nodes(1)[0]["name"]
    yield farm, make_user(farm, "sub", "submit"), node
    farm.close()


def api(farm: Farm, code: str) -> Any:
    return script_json(farm, "import json, MDispatcherAPI\n" + code)


# -- folders ---------------------------------------------------------------------
def test_folders_make_move_rename_list_delete(setup: tuple[Farm, str, str]) -> None:
    farm, _, _ = setup
    shots = ok(farm, "POST", "/api/v1/folders/", {"title": "shots"}, 201)
    assert shots["kind"] == "folder" and shots["parent"] == -1 and shots["user"] == "admin"
    seq = ok(farm, "POST", "/api/v1/folders/", {"title": "seq010", "parent": shots["id"]}, 201)
    job = farm.submit(title="in seq", parent=seq["id"], paused=True)
    assert ok(farm, "GET", f"/api/v1/folders/{shots['id']}")["title"] == "shots"
    assert ok(farm, "GET", "/api/v1/folders/shots")["id"] == shots["id"]
    children = ok(farm, "GET", f"/api/v1/folders/{seq['id']}/children")
    assert [child["id"] for child in children] == [job["id"]]
    top = [child["id"] for child in ok(farm, "GET", "/api/v1/folders/-1/children")]
    assert shots["id"] in top and seq["id"] not in top and job["id"] not in top

    # rename, then move to the top: seen through the hook API's jobGet
    ok(farm, "PATCH", f"/api/v1/folders/{seq['id']}", {"title": "seq020"})
    ok(farm, "PATCH", f"/api/v1/folders/{seq['id']}", {"parent": -1})
    seen = api(
        farm,
        f"err, job = MDispatcherAPI.jobGet({seq['id']})\n"
        "print(json.dumps([job.to_dict()['title'], job.to_dict()['parent']]))",
    )
    assert seen == ["seq020", -1]

    # paged like every listing
    for number in range(3):
        ok(
            farm,
            "POST",
            "/api/v1/folders/",
            {"title": f"page {number}", "parent": shots["id"]},
            201,
        )
    first = call(farm, "GET", f"/api/v1/folders/{shots['id']}/children?limit=2")
    assert first.status == 200 and len(first.body) == 2 and 'rel="next"' in first.headers["Link"]
    following = first.headers["Link"].split(">")[0].lstrip("<")
    rest = ok(farm, "GET", following)
    assert [c["title"] for c in first.body + rest] == ["page 0", "page 1", "page 2"]

    # a folder holding a job is not deleted; once empty it is
    answer = call(farm, "DELETE", f"/api/v1/folders/{seq['id']}")
    assert answer.status == 409 and "not empty" in answer.body["detail"]
    ok(farm, "DELETE", f"/api/v1/jobs/{job['id']}", status=204)
    ok(farm, "DELETE", f"/api/v1/folders/{seq['id']}", status=204)
    assert call(farm, "GET", f"/api/v1/folders/{seq['id']}").status == 404


def test_a_job_is_not_a_folder(setup: tuple[Farm, str, str]) -> None:
    farm, _, _ = setup
    job = farm.submit(title="plain", paused=True)
    for method, path, body in [
        ("GET", f"/api/v1/folders/{job['id']}", None),
        ("GET", f"/api/v1/folders/{job['id']}/children", None),
        ("PATCH", f"/api/v1/folders/{job['id']}", {"title": "x"}),
        ("DELETE", f"/api/v1/folders/{job['id']}", None),
    ]:
        answer = call(farm, method, path, body)
        assert answer.status == 404 and "not a folder" in answer.body["detail"], (method, answer)
    assert ok(farm, "GET", f"/api/v1/jobs/{job['id']}")["title"] == "plain"


def test_folder_refusals(setup: tuple[Farm, str, str]) -> None:
    farm, submitter, _ = setup
    folder = ok(farm, "POST", "/api/v1/folders/", {"title": "keep"}, 201)
    path = f"/api/v1/folders/{folder['id']}"
    check_refusals(
        farm, Write("POST", "/api/v1/folders/", {"title": "new"}, submitter=0), submitter
    )
    check_refusals(
        farm, Write("PATCH", path, {"title": "moved"}, "/api/v1/folders/99999"), submitter
    )
    check_refusals(farm, Write("DELETE", path, None, "/api/v1/folders/99999"), submitter)
    cases = [
        ({"title": ""}, "title"),
        ({"title": "x", "parent": 99999}, "parent"),
        ({"title": "x", "parent": "1"}, "parent"),
        ({"title": "x" * 300}, "title"),
    ]
    for body, field in cases:
        answer = call(farm, "POST", "/api/v1/folders/", body)
        assert answer.status in (400, 404) and answer.field in (field, None), (body, answer)
    assert call(farm, "PATCH", path, {}).status == 400
    assert call(farm, "PATCH", path, {"parent": folder["id"]}).status == 400  # into itself
    assert call(farm, "GET", "/api/v1/folders/-1/children?limit=0").field == "limit"
    assert call(farm, "GET", "/api/v1/folders/-1/children?sort=1").field == "sort"
    assert ok(farm, "GET", path)["title"] == "keep"


# -- pools and repositories --------------------------------------------------------
def test_pools(setup: tuple[Farm, str, str]) -> None:
    farm, _, node = setup
    made = ok(
        farm,
        "POST",
        "/api/v1/pools/",
        {"name": "gpu", "description": "cards", "nodes": [node]},
        201,
    )
    assert made["name"] == "gpu" and made["nodes"] == [node] and isinstance(made["id"], int)
    assert ok(farm, "GET", f"/api/v1/pools/{made['id']}") == made
    assert ok(farm, "GET", "/api/v1/pools/gpu") == made
    assert "gpu" in [pool["name"] for pool in ok(farm, "GET", "/api/v1/pools/")]
    assert [p["name"] for p in ok(farm, "GET", f"/api/v1/nodes/{node}/pools")] == ["gpu"]
    seen = api(
        farm,
        "err, pool = MDispatcherAPI.poolGet('gpu')\n"
        "print(json.dumps([pool.getDescription(), pool.getNodesList()]))",
    )
    assert seen == ["cards", [node]]

    changed = ok(farm, "PATCH", "/api/v1/pools/gpu", {"description": "all cards", "nodes": []})
    assert changed["description"] == "all cards" and changed["nodes"] == []
    assert ok(farm, "GET", f"/api/v1/nodes/{node}/pools") == []
    assert call(farm, "POST", "/api/v1/pools/", {"name": "gpu"}).status == 409

    ok(farm, "DELETE", f"/api/v1/pools/{made['id']}", status=204)
    assert call(farm, "GET", "/api/v1/pools/gpu").status == 404
    assert api(farm, "print(json.dumps(MDispatcherAPI.poolGet('gpu')[0].getErrorCode()))") != 0


def test_pool_refusals(setup: tuple[Farm, str, str]) -> None:
    farm, submitter, node = setup
    ok(farm, "POST", "/api/v1/pools/", {"name": "cpu"}, 201)
    check_refusals(farm, Write("POST", "/api/v1/pools/", {"name": "new"}), submitter)
    check_refusals(
        farm,
        Write("PATCH", "/api/v1/pools/cpu", {"description": "x"}, "/api/v1/pools/nope"),
        submitter,
    )
    check_refusals(
        farm, Write("DELETE", "/api/v1/pools/cpu", None, "/api/v1/pools/nope"), submitter
    )
    answer = call(farm, "POST", "/api/v1/pools/", {"name": "new", "nodes": ["no-such-node"]})
    assert answer.status == 400 and answer.field == "nodes"
    assert call(farm, "POST", "/api/v1/pools/", {"name": "a,b"}).field == "name"
    assert call(farm, "GET", "/api/v1/pools/99999").status == 404
    assert call(farm, "GET", "/api/v1/nodes/no-such-node/pools").status == 404
    assert call(farm, "GET", "/api/v1/nodes/99999/pools").status == 404
    assert call(farm, "GET", "/api/v1/pools/", token="").status == 401
    assert (
        ok(farm, "GET", "/api/v1/pools/cpu", token=submitter)["name"] == "cpu"
    )  # reading is allowed


def test_repositories(setup: tuple[Farm, str, str]) -> None:
    farm, submitter, _ = setup
    body = {"name": "main", "description": "the show", "linux": "/mnt/show"}
    made = ok(farm, "POST", "/api/v1/repositories/", body, 201)
    assert made == {
        "name": "main",
        "description": "the show",
        "windows": "",
        "mac": "",
        "linux": "/mnt/show",
    }
    assert ok(farm, "GET", "/api/v1/repositories/main") == made
    assert made in ok(farm, "GET", "/api/v1/repositories/")
    ok(farm, "PATCH", "/api/v1/repositories/main", {"windows": "S:\\show"})
    seen = api(
        farm,
        "err, repo = MDispatcherAPI.repositoriesGet('main')\n"
        "print(json.dumps([repo.getWindowsPath(), repo.getLinuxPath()]))",
    )
    assert seen == ["S:\\show", "/mnt/show"]
    assert call(farm, "POST", "/api/v1/repositories/", {"name": "main"}).status == 409

    check_refusals(farm, Write("POST", "/api/v1/repositories/", {"name": "other"}), submitter)
    check_refusals(
        farm,
        Write(
            "PATCH",
            "/api/v1/repositories/main",
            {"mac": "/Volumes/show"},
            "/api/v1/repositories/nope",
        ),
        submitter,
    )
    check_refusals(
        farm,
        Write("DELETE", "/api/v1/repositories/main", None, "/api/v1/repositories/nope"),
        submitter,
    )
    ok(farm, "DELETE", "/api/v1/repositories/main", status=204)
    assert call(farm, "GET", "/api/v1/repositories/main").status == 404
    assert api(farm, "print(json.dumps(MDispatcherAPI.repositoriesGetList()[1]))") == []
