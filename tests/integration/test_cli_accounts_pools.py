"""`corral pools|repositories|users|groups|folders VERB` against a live dispatcher:
each change seen through the REST API, --json parsed, bad input (exit 2, nothing
changed), a missing permission (exit 4) and an unknown name (exit 7)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.integration.clirun import cli, corral, user_token
from tests.integration.farm import Farm


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    """One dispatcher for the tests of this module (each uses its own names)."""
    shared = Farm(tmp_path_factory.mktemp("cli") / "farm").start()
    yield shared
    shared.close()


def test_pools_and_repositories(farm: Farm) -> None:
    made = cli(farm, "pools", "create", "gpu", "--description", "with a GPU", "--json")
    assert made.json()["name"] == "gpu" and made.json()["description"] == "with a GPU"
    assert {pool["name"] for pool in farm.request("GET", "/api/v1/pools/")} >= {"gpu"}
    listed = cli(farm, "pools", "list", "--json").json()
    assert "gpu" in {pool["name"] for pool in listed}
    table = cli(farm, "pools", "list")
    assert table.code == 0 and "gpu" in table.out and "with a GPU" in table.out
    assert cli(farm, "pools", "set", "gpu", "--description", "big cards").code == 0
    assert farm.request("GET", "/api/v1/pools/gpu")["description"] == "big cards"
    shown = cli(farm, "pools", "show", "gpu", "--json").json()
    assert shown["description"] == "big cards"

    # Bad input: usage errors, nothing changed.
    nothing = cli(farm, "pools", "set", "gpu")
    assert nothing.code == 2 and "nothing to change" in nothing.err
    blank = cli(farm, "pools", "create", " ")
    assert blank.code == 2 and "must not be empty" in blank.err
    # Not found, and not allowed.
    missing = cli(farm, "pools", "show", "nope")
    assert missing.code == 7 and missing.err.startswith("corral: error: ")
    viewer = user_token(farm, "viewer", "submit")
    refused = cli(farm, "pools", "delete", "gpu", token=viewer)
    assert refused.code == 4, refused
    assert farm.request("GET", "/api/v1/pools/gpu")["name"] == "gpu"
    # Deleting several: one unknown is reported, the rest go on, exit 1.
    cli(farm, "pools", "create", "cpu")
    both = cli(farm, "pools", "delete", "gpu", "nope", "cpu", "--json")
    assert both.code == 1 and "pool nope" in both.err
    results = json.loads(both.out)
    assert [(r["item"], r["ok"]) for r in results] == [
        ("gpu", True),
        ("nope", False),
        ("cpu", True),
    ]
    assert {"gpu", "cpu"}.isdisjoint(p["name"] for p in farm.request("GET", "/api/v1/pools/"))

    # Hostile names print escaped: no terminal control, no rich markup.
    hostile = cli(farm, "pools", "show", "\x1b[2J[red]x")
    assert hostile.code == 7 and "\x1b" not in hostile.err and "\\x1b" in hostile.err
    repo = cli(farm, "repositories", "create", "projects", "--linux", "/mnt/p", "--json").json()
    assert repo["linux"] == "/mnt/p"
    assert cli(farm, "repositories", "set", "projects", "--windows", "P:\\").code == 0
    assert farm.request("GET", "/api/v1/repositories/projects")["windows"] == "P:\\"
    assert "P:\\" in cli(farm, "repositories", "list").out
    assert cli(farm, "repositories", "show", "projects", "--json").json()["linux"] == "/mnt/p"
    assert cli(farm, "repositories", "delete", "projects").code == 0
    assert farm.request("GET", "/api/v1/repositories/") == []
    assert cli(farm, "repositories", "show", "projects").code == 7


def test_users_and_groups(farm: Farm) -> None:
    made = cli(farm, "users", "create", "bob", "--email", "bob@example.com",
               "--permission", "submit", "--password-stdin", "--json", stdin="secret-pass-1\n")  # fmt: skip
    assert made.json()["email"] == "bob@example.com"
    login = farm.request(
        "POST", "/api/v1/login", {"username": "bob", "password": "secret-pass-1"}, ""
    )
    assert login["token"]
    assert "bob" in {user["name"] for user in cli(farm, "users", "list", "--json").json()}
    assert cli(farm, "users", "show", "bob", "--json").json()["permissions"] == ["submit"]
    assert cli(farm, "users", "set", "bob", "--permission", "manage_own").code == 0
    assert farm.request("GET", "/api/v1/users/bob")["permissions"] == ["manage_own"]
    bad = cli(farm, "users", "set", "bob", "--permission", "root")
    assert bad.code == 2 and "root" in bad.err
    assert farm.request("GET", "/api/v1/users/bob")["permissions"] == ["manage_own"]

    group = cli(farm, "groups", "create", "artists", "--permission", "submit", "--user", "bob",
                "--json").json()  # fmt: skip
    assert group["users"] == ["bob"]
    assert cli(farm, "groups", "set", "artists", "--description", "2D and 3D").code == 0
    assert farm.request("GET", "/api/v1/groups/artists")["description"] == "2D and 3D"
    assert "artists" in cli(farm, "groups", "list").out
    assert cli(farm, "groups", "show", "artists", "--json").json()["permissions"] == ["submit"]
    assert cli(farm, "groups", "set", "artists", "--user", "").code == 0
    assert farm.request("GET", "/api/v1/groups/artists")["users"] == []

    bob = login["token"]
    assert cli(farm, "users", "delete", "admin", token=bob).code == 4
    assert cli(farm, "groups", "delete", "artists", token=bob).code == 4
    assert cli(farm, "groups", "delete", "artists").code == 0
    assert cli(farm, "groups", "show", "artists").code == 7
    assert cli(farm, "users", "delete", "bob").code == 0
    assert cli(farm, "users", "show", "bob").code == 7


def test_folders_and_moving_jobs(farm: Farm) -> None:
    shots = cli(farm, "folders", "create", "shots", "--json").json()
    assert shots["kind"] == "folder"
    inner = cli(farm, "folders", "create", "shot010", "--parent", "shots", "--json").json()
    assert inner["parent"] == shots["id"]
    job = farm.submit(title="comp", paused=True)
    assert cli(farm, "jobs", "move", str(job["id"]), "--to", "shot010").code == 0
    assert farm.job(job["id"])["parent"] == inner["id"]
    children = cli(farm, "folders", "list", "shot010", "--json").json()
    assert [child["id"] for child in children] == [job["id"]]
    top = cli(farm, "folders", "list")
    assert top.code == 0 and "shots/" in top.out
    assert cli(farm, "folders", "rename", "shot010", "shot020").code == 0
    assert cli(farm, "folders", "show", str(inner["id"]), "--json").json()["title"] == "shot020"
    assert cli(farm, "folders", "move", "shot020", "top").code == 0
    assert farm.job(inner["id"])["parent"] == -1

    busy = cli(farm, "folders", "delete", "shot020")
    assert busy.code == 1 and "folder shot020" in busy.err  # it holds a job
    assert cli(farm, "jobs", "move", str(job["id"]), "--to", "top").code == 0
    assert cli(farm, "folders", "delete", "shot020", "shots").code == 0
    assert cli(farm, "folders", "show", "shots").code == 7
    assert cli(farm, "folders", "create", "").code == 2
    artist = user_token(farm, "artist", "submit", "manage_own")
    mine = cli(farm, "folders", "create", "mine", "--json", token=artist).json()
    assert mine["user"] == "artist"
    assert cli(farm, "folders", "create", "admins").code == 0
    assert cli(farm, "folders", "rename", "admins", "taken", token=artist).code == 4
    assert cli(farm, "folders", "show", "admins", "--json").json()["title"] == "admins"


def test_exit_codes_from_the_installed_command(farm: Farm) -> None:
    assert corral(farm, "pools", "show", "nope").code == 7
    assert corral(farm, "pools", "create", "x", token="not-a-token").code == 4
    usage = corral(farm, "pools", "create")
    assert usage.code == 2 and "Missing argument 'NAME'" in usage.err
    made = corral(farm, "pools", "create", "x", "--json")
    assert made.json()["name"] == "x"


def test_engine_settings_pool_rename_notices_and_identity(farm: Farm) -> None:
    farm.client("eng1")
    farm.wait_nodes(1)
    set_ = cli(farm, "nodes", "engine-settings", "eng1", "UseGPUs=2", "--json").json()
    assert set_["settings"]["UseGPUs"] == "2"
    assert farm.request("GET", "/api/v1/nodes/eng1/engine-settings")["settings"] == set_["settings"]
    shown = cli(farm, "nodes", "engine-settings", "eng1")
    assert shown.code == 0 and "UseGPUs=2" in shown.out
    assert cli(farm, "nodes", "engine-settings", "eng1", "UseGPUs=").code == 0
    assert "UseGPUs" not in farm.request("GET", "/api/v1/nodes/eng1/engine-settings")["settings"]
    assert cli(farm, "nodes", "engine-settings", "eng1", "nonsense").code == 2
    viewer = user_token(farm, "engine-viewer", "submit")
    refused = cli(farm, "nodes", "engine-settings", "eng1", "UseGPUs=9", token=viewer)
    assert (
        refused.code == 4
        and farm.request("GET", "/api/v1/nodes/eng1/engine-settings")["settings"].get("UseGPUs")
        is None
    )
    assert cli(farm, "nodes", "reset-failures", "eng1", "--json").json()["node"] == "eng1"
    assert cli(farm, "nodes", "reset-failures", "nosuch").code == 7
    report = cli(farm, "nodes", "dispatch-report", "eng1", "--json").json()
    assert report["node"] == "eng1" and report["report"]

    cli(farm, "pools", "create", "old-name", "--node", "eng1")
    before = farm.request("GET", "/api/v1/pools/old-name")
    renamed = cli(farm, "pools", "rename", "old-name", "new-name", "--json").json()
    assert renamed["name"] == "new-name" and renamed["id"] == before["id"]
    assert farm.request("GET", "/api/v1/pools/new-name")["nodes"] == ["eng1"]
    assert cli(farm, "pools", "rename", "new-name", " ").code == 2
    assert cli(farm, "pools", "rename", "nosuch", "x").code == 7
    first = cli(farm, "pools", "notify", "--json").json()["revision"]
    assert cli(farm, "pools", "notify", "--json").json()["revision"] > first
    assert cli(farm, "repositories", "notify").code == 0
    assert cli(farm, "pools", "notify", token=viewer).code == 4

    identity = cli(farm, "system", "identity", "--json").json()
    assert identity == farm.request("GET", "/api/v1/system/identity")
    assert identity["uuid"] and cli(farm, "system", "identity").out.count(identity["uuid"]) == 1
