"""MDispatcherAPI users, groups, pools and repositories on a live farm."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.farm import Farm
from tests.integration.hookfarm import covers, script_json, start_farm


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    root = tmp_path_factory.mktemp("api-accounts")
    farm = start_farm(root / "farm")
    farm.client("alpha", "--pool", "cpu")
    farm.client("beta")
    farm.wait_nodes(2)
    yield farm
    farm.close()


def values(farm: Farm, code: str) -> Any:
    return script_json(farm, "import json, MDispatcherAPI\n" + code)


def records(farm: Farm, kind: str) -> dict[str, Any]:
    with sqlite3.connect(farm.data_dir / "corral.db") as db:
        rows = db.execute("SELECT name, info FROM records WHERE kind = ?", (kind,)).fetchall()
    return {name: json.loads(info) for name, info in rows}


@covers("userGetList", "userGet", "userAdd", "userRemove", "userConfigure",
        "groupGetList", "groupGet", "groupAdd", "groupRemove", "groupConfigure")  # fmt: skip
def test_users_and_groups(farm: Farm) -> None:
    result = values(
        farm,
        """
group = MDispatcherAPI.MGroup("lighting")
group.setDescription("lighting TDs")
group.setPermissions("submit,manage_all")
codes = [MDispatcherAPI.groupAdd(group).getErrorCode()]
user = MDispatcherAPI.MUser("ana")
user.setEmail("ana@studio.example")
user.setGroups("lighting")
user.setPermissions("submit,manage_own")
user.setPassword("s3cret-pass")
codes.append(MDispatcherAPI.userAdd(user).getErrorCode())
duplicate = MDispatcherAPI.userAdd(user).getErrorCode()
err, users = MDispatcherAPI.userGetList()
err2, ana = MDispatcherAPI.userGet("ana")
ana.setPermissions("submit,manage_own,manage_nodes")
codes += [err.getErrorCode(), err2.getErrorCode(), MDispatcherAPI.userConfigure(ana).getErrorCode()]
err3, groups = MDispatcherAPI.groupGetList()
err4, lighting = MDispatcherAPI.groupGet("lighting")
lighting.setDescription("the lighting department")
lighting.setUsers("ana,admin")
codes += [err3.getErrorCode(), err4.getErrorCode(), MDispatcherAPI.groupConfigure(lighting).getErrorCode()]
err5, admin = MDispatcherAPI.userGet("admin")
admin_removal = MDispatcherAPI.userRemove("admin").getErrorCode()
print(json.dumps({"codes": codes, "duplicate": duplicate, "users": sorted(u.getName() for u in users),
    "ana": [ana.getEmail(), ana.getGroups()], "groups": [g.getName() for g in groups],
    "members": lighting.getUsers(), "admin_groups": admin.getGroups(), "admin_removal": admin_removal}))
""",
    )
    assert result["codes"] == [0] * 8
    assert (result["duplicate"], result["admin_removal"]) == (4, 6)
    assert result["users"] == ["admin", "ana"] and result["ana"] == [
        "ana@studio.example",
        "lighting",
    ]
    assert result["groups"] == ["lighting"] and result["admin_groups"] == "lighting"
    assert records(farm, "group")["lighting"] == {"description": "the lighting department",
                                                    "permissions": ["manage_all", "submit"]}  # fmt: skip
    with sqlite3.connect(farm.data_dir / "corral.db") as db:
        info = json.loads(db.execute("SELECT info FROM users WHERE name = 'ana'").fetchone()[0])
    assert sorted(info["permissions"]) == ["manage_nodes", "manage_own", "submit"]
    assert info["password_hash"].startswith("$argon2") and "s3cret" not in info["password_hash"]
    removed = values(
        farm,
        """
codes = [MDispatcherAPI.groupRemove("lighting").getErrorCode(), MDispatcherAPI.userRemove("ana").getErrorCode()]
err, admin = MDispatcherAPI.userGet("admin")
codes.append(MDispatcherAPI.userGet("ana")[0].getErrorCode())
codes.append(MDispatcherAPI.groupGet("lighting")[0].getErrorCode())
print(json.dumps([codes, admin.getGroups()]))
""",
    )
    assert removed == [[0, 0, 3, 3], ""]


@covers("poolGetList", "poolGet", "poolAdd", "poolConfigure", "poolRemove", "poolNotifyChanges")
def test_pools_decide_where_jobs_run(farm: Farm) -> None:
    result = values(
        farm,
        """
err, pools = MDispatcherAPI.poolGetList()
err2, cpu = MDispatcherAPI.poolGet("cpu")
gpu = MDispatcherAPI.MPool("gpu")
gpu.setDescription("the cards")
gpu.setNodes("beta")
codes = [err.getErrorCode(), err2.getErrorCode(), MDispatcherAPI.poolAdd(gpu).getErrorCode()]
unknown = MDispatcherAPI.MPool("x"); unknown.setNodes("nobody")
codes.append(MDispatcherAPI.poolAdd(unknown).getErrorCode())
codes.append(MDispatcherAPI.poolNotifyChanges().getErrorCode())
print(json.dumps({"codes": codes, "pools": [p.getName() for p in pools], "cpu": cpu.getNodes()}))
""",
    )
    assert result["codes"] == [0, 0, 0, 2, 0]
    assert result["pools"] == ["cpu"] and result["cpu"] == "alpha"
    assert farm.request("GET", "/api/v1/status")["pools_revision"] == 1
    job = farm.submit(title="gpu work", frames="1-3", pools=["gpu"], command=["true"])
    farm.wait_state(job["id"], "done")
    assert {chunk["node"] for chunk in farm.chunks(job["id"])} == {"beta"}
    moved = values(
        farm,
        """
err, gpu = MDispatcherAPI.poolGet("gpu")
gpu.setNodes("alpha")
codes = [MDispatcherAPI.poolConfigure(gpu).getErrorCode()]
err2, again = MDispatcherAPI.poolGet("gpu")
print(json.dumps([codes, again.getNodes(), again.getDescription()]))
""",
    )
    assert moved == [[0], "alpha", "the cards"]
    job = farm.submit(title="gpu work 2", frames="1-3", pools=["gpu"], command=["true"])
    farm.wait_state(job["id"], "done")
    assert {chunk["node"] for chunk in farm.chunks(job["id"])} == {"alpha"}
    assert records(farm, "pool")["gpu"]["nodes"] == ["alpha"]
    assert values(farm, 'print(json.dumps(MDispatcherAPI.poolRemove("gpu").getErrorCode()))') == 0
    assert all("gpu" not in node["pools"] for node in farm.nodes())
    assert "gpu" not in records(farm, "pool")


@covers("repositoriesGetList", "repositoriesGet", "repositoriesAdd", "repositoriesConfigure",
        "repositoriesRemove", "repositoriesNotifyChanges")  # fmt: skip
def test_repositories(farm: Farm) -> None:
    result = values(
        farm,
        """
repo = MDispatcherAPI.MRepository("projects")
repo.setDescription("the project share")
repo.setWindowsPath("P:\\\\")
repo.setLinuxPath("/mnt/projects")
codes = [MDispatcherAPI.repositoriesAdd(repo).getErrorCode()]
codes.append(MDispatcherAPI.repositoriesAdd(repo).getErrorCode())
err, got = MDispatcherAPI.repositoriesGet("projects")
got.setMacPath("/Volumes/projects")
codes += [err.getErrorCode(), MDispatcherAPI.repositoriesConfigure(got).getErrorCode()]
err2, listed = MDispatcherAPI.repositoriesGetList()
codes += [err2.getErrorCode(), MDispatcherAPI.repositoriesNotifyChanges().getErrorCode()]
print(json.dumps({"codes": codes, "listed": [[r.getName(), r.getWindowsPath(), r.getMacPath(), r.getLinuxPath()] for r in listed]}))
""",
    )
    assert result["codes"] == [0, 4, 0, 0, 0, 0]
    assert result["listed"] == [["projects", "P:\\", "/Volumes/projects", "/mnt/projects"]]
    assert records(farm, "repository")["projects"]["mac"] == "/Volumes/projects"
    assert farm.request("GET", "/api/v1/status")["repositories_revision"] == 1
    gone = values(
        farm,
        """
codes = [MDispatcherAPI.repositoriesRemove("projects").getErrorCode(), MDispatcherAPI.repositoriesRemove("projects").getErrorCode()]
print(json.dumps(codes))
""",
    )
    assert gone == [0, 3] and records(farm, "repository") == {}
