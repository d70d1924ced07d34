"""MDispatcherAPI: users, groups, pools and repositories (the hook host's side)."""

from __future__ import annotations

from typing import Any

from hooks.api.farm_objects import MGroup, MPool, MRepository, MUser
from hooks.api.link import bad_argument, invoke

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


def _list_of(kind: type) -> Any:
    return lambda values: ([kind(item) for item in values[0]],)


def _one(kind: type) -> Any:
    return lambda values: (kind(values[0]),)


def _by_name(function: str, name: object, empty: tuple[Any, ...], decode: Any = None) -> Any:
    if not isinstance(name, str) or not name.strip():
        return bad_argument(function, f"needs a name, not {name!r}", empty)
    return invoke(function, [name], empty, decode)


def _object(function: str, value: object, kind: type) -> Any:
    if not isinstance(value, kind):
        return bad_argument(
            function, f"needs an {kind.__name__}, not {type(value).__name__}", _NONE
        )
    record: Any = value
    return invoke(function, [record.to_dict()], _NONE)


# -- users and groups ------------------------------------------------------------


def userGetList() -> Any:
    """`err, users`: every account as MUser objects (directory users as @directory@name)."""
    return invoke("userGetList", [], ([],), _list_of(MUser))


def userGet(name: str) -> Any:
    """`err, user`: one account."""
    return _by_name("userGet", name, (None,), _one(MUser))


def userAdd(user: MUser) -> Any:
    """`err`: create an account (name, email, groups, permissions, password)."""
    return _object("userAdd", user, MUser)


def userRemove(name: str) -> Any:
    """`err`: delete an account and its tokens (the admin account stays)."""
    return _by_name("userRemove", name, _NONE)


def userConfigure(user: MUser) -> Any:
    """`err`: save the changes made to an MUser (a password is changed only when set)."""
    return _object("userConfigure", user, MUser)


def groupGetList() -> Any:
    """`err, groups`: every group as MGroup objects."""
    return invoke("groupGetList", [], ([],), _list_of(MGroup))


def groupGet(groupName: str) -> Any:
    """`err, group`: one group, with its members."""
    return _by_name("groupGet", groupName, (None,), _one(MGroup))


def groupAdd(group: MGroup) -> Any:
    """`err`: create a group (its users, when set, become members)."""
    return _object("groupAdd", group, MGroup)


def groupRemove(groupName: str) -> Any:
    """`err`: delete a group; its members leave it."""
    return _by_name("groupRemove", groupName, _NONE)


def groupConfigure(group: MGroup) -> Any:
    """`err`: save the changes made to an MGroup (description, permissions, members)."""
    return _object("groupConfigure", group, MGroup)


# -- pools -------------------------------------------------------------------------


def poolGetList() -> Any:
    """`err, pools`: every pool (configured ones and those nodes announce) as MPool objects."""
    return invoke("poolGetList", [], ([],), _list_of(MPool))


def poolGet(name: str) -> Any:
    """`err, pool`: one pool with its member nodes."""
    return _by_name("poolGet", name, (None,), _one(MPool))


def poolConfigure(pool: MPool) -> Any:
    """`err`: save a pool: its description and exactly these member nodes."""
    return _object("poolConfigure", pool, MPool)


def poolAdd(pool: MPool) -> Any:
    """`err`: create a pool (with member nodes when it names them)."""
    return _object("poolAdd", pool, MPool)


def poolRemove(name: str) -> Any:
    """`err`: delete a pool; its nodes leave it."""
    return _by_name("poolRemove", name, _NONE)


def poolNotifyChanges() -> Any:
    """`err`: tell connected consoles that pools changed (bumps the pools revision)."""
    return invoke("poolNotifyChanges", [], _NONE)


# -- repositories ----------------------------------------------------------------------


def repositoriesGetList() -> Any:
    """`err, repositories`: every repository as MRepository objects."""
    return invoke("repositoriesGetList", [], ([],), _list_of(MRepository))


def repositoriesGet(name: str) -> Any:
    """`err, repository`: one repository by name."""
    return _by_name("repositoriesGet", name, (None,), _one(MRepository))


def repositoriesConfigure(repository: MRepository) -> Any:
    """`err`: save the changes made to a repository."""
    return _object("repositoriesConfigure", repository, MRepository)


def repositoriesAdd(repository: MRepository) -> Any:
    """`err`: create a repository."""
    return _object("repositoriesAdd", repository, MRepository)


def repositoriesNotifyChanges() -> Any:
    """`err`: tell connected consoles that repositories changed (bumps their revision)."""
    return invoke("repositoriesNotifyChanges", [], _NONE)


def repositoriesRemove(repository: str) -> Any:
    """`err`: delete a repository by name."""
    return _by_name("repositoriesRemove", repository, _NONE)
