"""MConsoleAPI: users, groups, pools and repositories, over their REST routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from console.consoleapi.transport import bad_argument, call, get, segment, send
from corral_client import Client
from hooks.api.farm_objects import MGroup, MPool, MRepository, MUser

__all__ = [
    "groupAdd",
    "groupConfigure",
    "groupGet",
    "groupGetList",
    "groupRemove",
    "poolAdd",
    "poolConfigure",
    "poolGet",
    "poolGetList",
    "poolNotifyChanges",
    "poolRemove",
    "repositoriesAdd",
    "repositoriesConfigure",
    "repositoriesGet",
    "repositoriesGetList",
    "repositoriesNotifyChanges",
    "repositoriesRemove",
    "userAdd",
    "userConfigure",
    "userGet",
    "userGetList",
    "userRemove",
]

_NONE: tuple[Any, ...] = ()

# What each REST body takes of an object's form (the rest is the dispatcher's to answer).
_USER_EDIT = ("email", "groups", "permissions", "password")
_GROUP_EDIT = ("description", "permissions", "users")
_POOL_EDIT = ("description", "nodes")
_REPOSITORY_EDIT = ("description", "windows", "mac", "linux")


def _fields(data: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: data[name] for name in names if name in data}


def _name_ok(name: object) -> bool:
    return isinstance(name, str) and bool(name.strip())


def _list(function: str, path: str, kind: type, query: dict[str, Any] | None = None) -> Any:
    return call(
        function, ([],), lambda client: ([kind(item) for item in get(client, path, query)],)
    )


def _one(function: str, collection: str, name: object, kind: type) -> Any:
    if not _name_ok(name):
        return bad_argument(function, f"needs a name, not {name!r}", (None,))
    path = f"/{collection}/{segment(name)}"
    return call(function, (None,), lambda client: (kind(get(client, path)),))


def _do(function: str, method: str, path: str, body: Any = None) -> Any:
    def work(client: Client) -> tuple[Any, ...]:
        send(client, method, path, body)
        return ()

    return call(function, _NONE, work)


def _remove(function: str, collection: str, name: object) -> Any:
    if not _name_ok(name):
        return bad_argument(function, f"needs a name, not {name!r}", _NONE)
    return _do(function, "DELETE", f"/{collection}/{segment(name)}")


def _record(
    function: str,
    value: object,
    kind: type,
    request: Callable[[dict[str, Any]], tuple[str, str, dict[str, Any]]],
) -> Any:
    """Send an object's form: `request(form)` names the method, path and body."""
    if not isinstance(value, kind):
        return bad_argument(
            function, f"needs an {kind.__name__}, not {type(value).__name__}", _NONE
        )
    form: dict[str, Any] = value.to_dict()  # type: ignore[attr-defined]
    if not _name_ok(form.get("name")):
        return bad_argument(function, f"the {kind.__name__} has no name", _NONE)
    method, path, body = request(form)
    return _do(function, method, path, body)


def _add(collection: str, names: tuple[str, ...]) -> Any:
    return lambda form: ("POST", f"/{collection}/", {"name": form["name"], **_fields(form, names)})


def _configure(collection: str, names: tuple[str, ...]) -> Any:
    return lambda form: ("PATCH", f"/{collection}/{segment(form['name'])}", _fields(form, names))


# -- users and groups ------------------------------------------------------------


def userGetList() -> Any:
    """`err, users`: every account as MUser objects (directory users as @directory@name)."""
    return _list("userGetList", "/users/", MUser, {"directory": "true"})


def userGet(name: str) -> Any:
    """`err, user`: one account."""
    return _one("userGet", "users", name, MUser)


def userAdd(user: MUser) -> Any:
    """`err`: create an account (name, email, groups, permissions, password)."""
    return _record("userAdd", user, MUser, _add("users", _USER_EDIT))


def userRemove(name: str) -> Any:
    """`err`: delete an account and its tokens (the admin account stays)."""
    return _remove("userRemove", "users", name)


def userConfigure(user: MUser) -> Any:
    """`err`: save the changes made to an MUser (a password is changed only when set)."""

    def request(form: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        body = _fields(form, _USER_EDIT)
        if not body.get("password"):
            body.pop("password", None)
        return "PATCH", f"/users/{segment(form['name'])}", body

    return _record("userConfigure", user, MUser, request)


def groupGetList() -> Any:
    """`err, groups`: every group as MGroup objects."""
    return _list("groupGetList", "/groups/", MGroup)


def groupGet(groupName: str) -> Any:
    """`err, group`: one group, with its members."""
    return _one("groupGet", "groups", groupName, MGroup)


def groupAdd(group: MGroup) -> Any:
    """`err`: create a group (its users, when set, become members)."""
    return _record("groupAdd", group, MGroup, _add("groups", _GROUP_EDIT))


def groupRemove(groupName: str) -> Any:
    """`err`: delete a group; its members leave it."""
    return _remove("groupRemove", "groups", groupName)


def groupConfigure(group: MGroup) -> Any:
    """`err`: save the changes made to an MGroup (description, permissions, members)."""
    return _record("groupConfigure", group, MGroup, _configure("groups", _GROUP_EDIT))


# -- pools -------------------------------------------------------------------------


def poolGetList() -> Any:
    """`err, pools`: every pool (configured ones and those nodes announce) as MPool objects."""
    return _list("poolGetList", "/pools/", MPool)


def poolGet(name: str) -> Any:
    """`err, pool`: one pool with its member nodes."""
    return _one("poolGet", "pools", name, MPool)


def poolConfigure(pool: MPool) -> Any:
    """`err`: save a pool: its description and exactly these member nodes."""
    return _record("poolConfigure", pool, MPool, _configure("pools", _POOL_EDIT))


def poolAdd(pool: MPool) -> Any:
    """`err`: create a pool (with member nodes when it names them)."""
    return _record("poolAdd", pool, MPool, _add("pools", _POOL_EDIT))


def poolRemove(name: str) -> Any:
    """`err`: delete a pool; its nodes leave it."""
    return _remove("poolRemove", "pools", name)


def poolNotifyChanges() -> Any:
    """`err`: tell connected consoles that pools changed (bumps the pools revision)."""
    return _do("poolNotifyChanges", "POST", "/pools/notify")


# -- repositories ----------------------------------------------------------------------


def repositoriesGetList() -> Any:
    """`err, repositories`: every repository as MRepository objects."""
    return _list("repositoriesGetList", "/repositories/", MRepository)


def repositoriesGet(name: str) -> Any:
    """`err, repository`: one repository by name."""
    return _one("repositoriesGet", "repositories", name, MRepository)


def repositoriesConfigure(repository: MRepository) -> Any:
    """`err`: save the changes made to a repository."""
    return _record(
        "repositoriesConfigure",
        repository,
        MRepository,
        _configure("repositories", _REPOSITORY_EDIT),
    )


def repositoriesAdd(repository: MRepository) -> Any:
    """`err`: create a repository."""
    return _record(
        "repositoriesAdd", repository, MRepository, _add("repositories", _REPOSITORY_EDIT)
    )


def repositoriesNotifyChanges() -> Any:
    """`err`: tell connected consoles that repositories changed (bumps their revision)."""
    return _do("repositoriesNotifyChanges", "POST", "/repositories/notify")


def repositoriesRemove(repository: str) -> Any:
    """`err`: delete a repository by name."""
    return _remove("repositoriesRemove", "repositories", repository)
