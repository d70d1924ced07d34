"""The checks of the users, groups, pools and repositories functions, shared by
MDispatcherAPI's tests (a dispatcher-context script) and MConsoleAPI's (a
console-context script).

Each check takes the farm (render nodes alpha, in pool cpu, and beta) and `run`,
which runs a script body in its context, with `json` imported and the API bound to
`api`, and returns the JSON value the script printed last.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from tests.integration.farm import Farm
from tests.integration.system_checks import Runner


def records(farm: Farm, kind: str) -> dict[str, Any]:
    """The stored records of one kind (pool, group, repository), by name."""
    with sqlite3.connect(farm.data_dir / "corral.db") as db:
        rows = db.execute("SELECT name, info FROM records WHERE kind = ?", (kind,)).fetchall()
    return {name: json.loads(info) for name, info in rows}


def check_users_and_groups(farm: Farm, run: Runner) -> None:
    result = run(
        farm,
        """
group = api.MGroup("lighting")
group.setDescription("lighting TDs")
group.setPermissions("submit,manage_all")
codes = [api.groupAdd(group).getErrorCode()]
user = api.MUser("ana")
user.setEmail("ana@studio.example")
user.setGroups("lighting")
user.setPermissions("submit,manage_own")
user.setPassword("s3cret-pass")
codes.append(api.userAdd(user).getErrorCode())
duplicate = api.userAdd(user).getErrorCode()
err, users = api.userGetList()
err2, ana = api.userGet("ana")
ana.setPermissions("submit,manage_own,manage_nodes")
codes += [err.getErrorCode(), err2.getErrorCode(), api.userConfigure(ana).getErrorCode()]
err3, groups = api.groupGetList()
err4, lighting = api.groupGet("lighting")
lighting.setDescription("the lighting department")
lighting.setUsers("ana,admin")
codes += [err3.getErrorCode(), err4.getErrorCode(), api.groupConfigure(lighting).getErrorCode()]
err5, admin = api.userGet("admin")
admin_removal = api.userRemove("admin").getErrorCode()
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
    removed = run(
        farm,
        """
codes = [api.groupRemove("lighting").getErrorCode(), api.userRemove("ana").getErrorCode()]
err, admin = api.userGet("admin")
codes.append(api.userGet("ana")[0].getErrorCode())
codes.append(api.groupGet("lighting")[0].getErrorCode())
print(json.dumps([codes, admin.getGroups()]))
""",
    )
    assert removed == [[0, 0, 3, 3], ""]


def check_pools_decide_where_jobs_run(farm: Farm, run: Runner) -> None:
    result = run(
        farm,
        """
err, pools = api.poolGetList()
err2, cpu = api.poolGet("cpu")
gpu = api.MPool("gpu")
gpu.setDescription("the cards")
gpu.setNodes("beta")
codes = [err.getErrorCode(), err2.getErrorCode(), api.poolAdd(gpu).getErrorCode()]
unknown = api.MPool("x"); unknown.setNodes("nobody")
codes.append(api.poolAdd(unknown).getErrorCode())
codes.append(api.poolNotifyChanges().getErrorCode())
print(json.dumps({"codes": codes, "pools": [p.getName() for p in pools], "cpu": cpu.getNodes()}))
""",
    )
    assert result["codes"] == [0, 0, 0, 2, 0]
    assert result["pools"] == ["cpu"] and result["cpu"] == "alpha"
    assert farm.request("GET", "/api/v1/status")["pools_revision"] == 1
    job = farm.submit(title="gpu work", frames="1-3", pools=["gpu"], command=["true"])
    farm.wait_state(job["id"], "done")
    assert {chunk["node"] for chunk in farm.chunks(job["id"])} == {"beta"}
    moved = run(
        farm,
        """
err, gpu = api.poolGet("gpu")
gpu.setNodes("alpha")
codes = [api.poolConfigure(gpu).getErrorCode()]
err2, again = api.poolGet("gpu")
print(json.dumps([codes, again.getNodes(), again.getDescription()]))
""",
    )
    assert moved == [[0], "alpha", "the cards"]
    job = farm.submit(title="gpu work 2", frames="1-3", pools=["gpu"], command=["true"])
    farm.wait_state(job["id"], "done")
    assert {chunk["node"] for chunk in farm.chunks(job["id"])} == {"alpha"}
    assert records(farm, "pool")["gpu"]["nodes"] == ["alpha"]
    assert run(farm, 'print(json.dumps(api.poolRemove("gpu").getErrorCode()))') == 0
    assert all("gpu" not in node["pools"] for node in farm.nodes())
    assert "gpu" not in records(farm, "pool")


def check_repositories(farm: Farm, run: Runner) -> None:
    result = run(
        farm,
        """
repo = api.MRepository("projects")
repo.setDescription("the project share")
repo.setWindowsPath("P:\\\\")
repo.setLinuxPath("/mnt/projects")
codes = [api.repositoriesAdd(repo).getErrorCode()]
codes.append(api.repositoriesAdd(repo).getErrorCode())
err, got = api.repositoriesGet("projects")
got.setMacPath("/Volumes/projects")
codes += [err.getErrorCode(), api.repositoriesConfigure(got).getErrorCode()]
err2, listed = api.repositoriesGetList()
codes += [err2.getErrorCode(), api.repositoriesNotifyChanges().getErrorCode()]
print(json.dumps({"codes": codes, "listed": [[r.getName(), r.getWindowsPath(), r.getMacPath(), r.getLinuxPath()] for r in listed]}))
""",
    )
    assert result["codes"] == [0, 4, 0, 0, 0, 0]
    assert result["listed"] == [["projects", "P:\\", "/Volumes/projects", "/mnt/projects"]]
    assert records(farm, "repository")["projects"]["mac"] == "/Volumes/projects"
    assert farm.request("GET", "/api/v1/status")["repositories_revision"] == 1
    gone = run(
        farm,
        """
codes = [api.repositoriesRemove("projects").getErrorCode(), api.repositoriesRemove("projects").getErrorCode()]
print(json.dumps(codes))
""",
    )
    assert gone == [0, 3] and records(farm, "repository") == {}
