"""The REST routes MConsoleAPI added: chunks by number, the update-status and update job
actions, whole-job edits, repeated titles, a folder's owner, purging one kind of
exclusion, pool and repository notices and the directory's users; each route's effect
seen through another route, and every bad request refused with nothing changed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from console.consoleapi.jobs import job_form
from tests.integration.farm import Farm
from tests.integration.hookfarm import start_farm
from tests.integration.restkit import MAX_REQUEST_BYTES, Write, call, check_refusals, make_user, ok

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Farm, str, str]]:
    root: Path = tmp_path_factory.mktemp("rest-console")
    farm = start_farm(root / "farm", "--max-request-bytes", str(MAX_REQUEST_BYTES))
    farm.client("alpha")
    farm.wait_nodes(1)
    yield farm, make_user(farm, "sub", "submit"), make_user(farm, "own", "submit", "manage_own")
    farm.close()


def test_chunks_by_number(setup: tuple[Farm, str, str]) -> None:
    farm, submitter, owner = setup
    job = farm.submit(title="numbered", frames="1-10", batch=2, paused=True)
    path = f"/api/v1/jobs/{job['id']}/chunks"
    listed = ok(farm, "GET", path + "/")
    assert [(c["id"], c["start"], c["end"], c["state"]) for c in listed][:2] == [
        (0, 1, 2, "queued"), (1, 3, 4, "queued")]  # fmt: skip
    page = call(farm, "GET", path + "/?limit=2")
    assert [c["id"] for c in page.body] == [0, 1] and 'rel="next"' in page.headers["Link"]
    one = ok(farm, "GET", path + "/3")
    assert (one["id"], one["start"], one["end"], one["runs"]) == (3, 7, 8, [])
    assert call(farm, "GET", path + "/5").status == 404
    assert call(farm, "GET", path + "/abc").status == 400
    assert call(farm, "GET", path + "/99999999999999999999999").status == 404
    assert call(farm, "GET", "/api/v1/jobs/99999/chunks/").status == 404
    assert call(farm, "GET", path + "/?state=sleeping").field == "state"
    assert call(farm, "GET", path + "/", token="").status == 401
    check_refusals(farm, Write("PUT", path + "/1", {"state": "skipped"}, path + "/77"), submitter)
    for bad in ({"state": "exploded"}, {"state": "running"}, {"state": 3}, {}):
        answer = call(farm, "PUT", path + "/1", bad)
        assert answer.status == 400, (bad, answer)
    set_one = ok(farm, "PUT", path + "/1", {"state": "skipped"})
    assert (set_one["id"], set_one["state"]) == (1, "skipped")
    assert [c["state"] for c in farm.chunks(job["id"])][:2] == ["queued", "skipped"]
    theirs = call(farm, "PUT", path + "/0", {"state": "done"}, token=owner)
    assert theirs.status == 403  # manage-own covers one's own jobs only


def test_update_status_and_update_actions(setup: tuple[Farm, str, str]) -> None:
    farm, submitter, _ = setup
    job = farm.submit(title="recount", frames="1-2", paused=True)
    for action in ("update-status", "update"):
        path = f"/api/v1/jobs/{job['id']}/actions/{action}"
        check_refusals(farm, Write("POST", path, None, f"/api/v1/jobs/99999/actions/{action}"),
                       submitter)  # fmt: skip
        answer = ok(farm, "POST", path)
        assert answer["id"] == job["id"] and answer["state"] == "paused"
    logged = (farm.data_dir / "logs" / "actions.log").read_text()
    assert '"update_status"' in logged and '"update"' in logged
    assert call(farm, "POST", f"/api/v1/jobs/{job['id']}/actions/explode").status == 404


def test_whole_job_edits_and_repeated_titles(setup: tuple[Farm, str, str]) -> None:
    farm, _, _ = setup
    first = farm.submit(title="twice", paused=True, notes="keep")
    assert (
        call(farm, "POST", "/api/v1/jobs/", {"title": "twice", "command": ["true"]}).status == 409
    )
    again = ok(farm, "POST", "/api/v1/jobs/?unique_titles=false",
               {"title": "twice", "command": ["true"], "paused": True}, 201)  # fmt: skip
    assert again["title"] == "twice" and again["id"] != first["id"]
    assert call(farm, "POST", "/api/v1/jobs/?unique_titles=maybe", {"title": "x"}).status == 400
    whole = job_form(ok(farm, "GET", f"/api/v1/jobs/{first['id']}"))  # the MJob form
    whole.update(priority=77, state="done", id=12345, chunks="nonsense")
    path = f"/api/v1/jobs/{first['id']}?only_changed=true"
    edited = ok(farm, "PATCH", path, whole)
    assert (edited["id"], edited["priority"], edited["state"], edited["notes"]) == (
        first["id"], 77, "paused", "keep")  # fmt: skip
    assert call(farm, "PATCH", path, [whole]).status == 400
    assert call(farm, "PATCH", path, {**whole, "priority": "high"}).status == 400
    assert call(farm, "PATCH", path, raw=b"{nope").status == 400
    # Without the flag the fields are checked as an edit: a whole job is refused.
    assert call(farm, "PATCH", f"/api/v1/jobs/{first['id']}", whole).status == 400
    assert ok(farm, "GET", f"/api/v1/jobs/{first['id']}")["priority"] == 77


def test_a_folder_for_another_owner(setup: tuple[Farm, str, str]) -> None:
    farm, submitter, _ = setup
    made = ok(farm, "POST", "/api/v1/folders/", {"title": "for ana", "owner": "ana"}, 201)
    assert made["user"] == "ana" and made["kind"] == "folder"
    mine = ok(
        farm, "POST", "/api/v1/folders/", {"title": "mine", "owner": "sub"}, 201, token=submitter
    )
    assert mine["user"] == "sub"
    check_refusals(farm, Write("POST", "/api/v1/folders/", {"title": "other", "owner": "ana"}),
                   submitter)  # fmt: skip
    assert call(farm, "POST", "/api/v1/folders/", {"title": "x", "owner": 5}).field == "owner"


def test_purge_one_kind_of_exclusion(setup: tuple[Farm, str, str]) -> None:
    farm, _, _ = setup
    alpha = farm.nodes()[0]
    actions = f"/api/v1/nodes/{alpha['id']}/actions"
    ok(farm, "POST", actions + "/exclude", {"template": "demo"})
    assert ok(farm, "POST", actions + "/purge-exclusions", {"jobs": True})["ok"]
    assert ok(farm, "GET", f"/api/v1/nodes/{alpha['id']}")["excluded_templates"] == ["demo"]
    answer = ok(farm, "POST", actions + "/purge-exclusions", {"templates": True})
    assert answer["node"]["excluded_templates"] == []
    assert call(farm, "POST", actions + "/purge-exclusions", {"everything": True}).status == 400
    assert ok(farm, "GET", f"/api/v1/nodes/{alpha['id']}")["status"] in ("idle", "busy")


@pytest.mark.parametrize("kind", ["pools", "repositories"])
def test_notices_of_pool_and_repository_changes(setup: tuple[Farm, str, str], kind: str) -> None:
    farm, submitter, _ = setup
    field = f"{'pools' if kind == 'pools' else 'repositories'}_revision"
    before = ok(farm, "GET", "/api/v1/status")[field]
    check_refusals(farm, Write("POST", f"/api/v1/{kind}/notify", None), submitter)
    assert ok(farm, "POST", f"/api/v1/{kind}/notify") == {"revision": before + 1}
    assert ok(farm, "GET", "/api/v1/status")[field] == before + 1


def test_users_with_the_directory(setup: tuple[Farm, str, str]) -> None:
    farm, submitter, _ = setup
    plain = ok(farm, "GET", "/api/v1/users/")
    assert ok(farm, "GET", "/api/v1/users/?directory=true") == plain  # no directory configured
    assert call(farm, "GET", "/api/v1/users/?directory=maybe").field == "directory"
    assert call(farm, "GET", "/api/v1/users/?directory=true", token="").status == 401
    assert ok(farm, "GET", "/api/v1/users/?directory=true", token=submitter) == plain
