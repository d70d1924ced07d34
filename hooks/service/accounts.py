"""MDispatcherAPI users, groups, pools and repositories."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dispatcher.auth import Permission, User
from dispatcher.errors import Conflict, NotFound, PermissionDenied, ValidationError
from dispatcher.model import Node
from dispatcher.records import check_name
from hooks.service.registry import api, as_text, done

if TYPE_CHECKING:
    from dispatcher.app import Dispatcher

MAX_TEXT = 4096


def _fields(info: object, allowed: dict[str, type]) -> dict[str, Any]:
    """The known fields of an object's dict, type-checked."""
    if not isinstance(info, dict):
        raise ValidationError(
            "an object of the API (MUser, MGroup, MPool, MRepository) is required"
        )
    out: dict[str, Any] = {}
    for key, kind in allowed.items():
        if key not in info:
            continue
        value = info[key]
        if kind is list:
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                raise ValidationError(f"{key}: a list of names is required", field=key)
            value = [item.strip() for item in value if item.strip()]
        elif not isinstance(value, kind) or (isinstance(value, str) and len(value) > MAX_TEXT):
            raise ValidationError(f"{key}: must be {kind.__name__}", field=key)
        out[key] = value
    return out


def _permissions(names: list[str]) -> set[Permission]:
    try:
        return {Permission(name) for name in names}
    except ValueError:
        known = ", ".join(permission.value for permission in Permission)
        raise ValidationError(f"permissions: one of {known}", field="permissions") from None


# -- users ---------------------------------------------------------------------

USER_FIELDS: dict[str, type] = {
    "name": str,
    "email": str,
    "groups": list,
    "permissions": list,
    "password": str,
}


def user_dict(user: User) -> dict[str, Any]:
    return {"name": user.name, "email": user.email, "groups": list(user.groups),
            "permissions": sorted(permission.value for permission in user.permissions), "ldap": False}  # fmt: skip


def _user(d: Dispatcher, name: object) -> User:
    text = as_text(name, "name")
    user = d.users.users.get(text)
    if user is None:
        raise NotFound(f"no user named {text!r}")
    return user


def _apply_user(d: Dispatcher, user: User, info: dict[str, Any]) -> None:
    if "email" in info:
        user.email = info["email"]
    if "groups" in info:
        unknown = [group for group in info["groups"] if d.records.find("group", group) is None]
        if unknown:
            raise ValidationError(f"groups: no group named {unknown[0]!r}", field="groups")
        user.groups = sorted(set(info["groups"]))
    if "permissions" in info:
        permissions = _permissions(info["permissions"])
        if user.name == "admin" and Permission.ADMINISTER not in permissions:
            raise PermissionDenied("the admin user keeps the administer permission")
        user.permissions = permissions
    if info.get("password"):
        d.users.set_password(user, info["password"])
    d.users.put(user)


@api
def userGetList(d: Dispatcher) -> list[Any]:
    return [[user_dict(user) for _, user in sorted(d.users.users.items())]]


@api
def userGet(d: Dispatcher, name: object) -> list[Any]:
    return [user_dict(_user(d, name))]


@api
async def userAdd(d: Dispatcher, info: object) -> list[Any]:
    fields = _fields(info, USER_FIELDS)
    name = check_name("user", fields.get("name"))
    if name in d.users.users:
        raise Conflict(f"a user named {name!r} exists already")
    user = User(name)
    _apply_user(d, user, fields)
    return await done(d, "user_add", name=name)


@api
async def userRemove(d: Dispatcher, name: object) -> list[Any]:
    user = _user(d, name)
    if user.name == "admin":
        raise PermissionDenied("the admin user cannot be removed")
    d.users.remove(user.name)
    return await done(d, "user_remove", name=user.name)


@api
async def userConfigure(d: Dispatcher, info: object) -> list[Any]:
    fields = _fields(info, USER_FIELDS)
    user = _user(d, fields.get("name"))
    _apply_user(d, user, fields)
    return await done(d, "user_configure", name=user.name)


# -- groups --------------------------------------------------------------------

GROUP_FIELDS: dict[str, type] = {
    "name": str,
    "description": str,
    "permissions": list,
    "users": list,
}


def _group_dict(d: Dispatcher, name: str, info: dict[str, Any]) -> dict[str, Any]:
    members = sorted(user.name for user in d.users.users.values() if name in user.groups)
    return {"name": name, "description": info.get("description", ""),
            "permissions": info.get("permissions", []), "users": members}  # fmt: skip


def _save_group(d: Dispatcher, name: str, fields: dict[str, Any], previous: dict[str, Any]) -> None:
    permissions = sorted(
        p.value for p in _permissions(fields.get("permissions", previous.get("permissions", [])))
    )
    record = {
        "description": fields.get("description", previous.get("description", "")),
        "permissions": permissions,
    }
    if "users" in fields:
        unknown = [member for member in fields["users"] if member not in d.users.users]
        if unknown:
            raise ValidationError(f"users: no user named {unknown[0]!r}", field="users")
    d.records.put("group", name, record)
    if "users" in fields:
        wanted = set(fields["users"])
        for user in d.users.users.values():
            if (user.name in wanted) != (name in user.groups):
                user.groups = sorted(set(user.groups) ^ {name})
                d.users.put(user)


@api
def groupGetList(d: Dispatcher) -> list[Any]:
    return [[_group_dict(d, name, info) for name, info in d.records.all("group")]]


@api
def groupGet(d: Dispatcher, name: object) -> list[Any]:
    text = as_text(name, "name")
    return [_group_dict(d, text, d.records.get("group", text))]


@api
async def groupAdd(d: Dispatcher, info: object) -> list[Any]:
    fields = _fields(info, GROUP_FIELDS)
    name = check_name("group", fields.get("name"))
    if d.records.find("group", name) is not None:
        raise Conflict(f"a group named {name!r} exists already")
    _save_group(d, name, fields, {})
    return await done(d, "group_add", name=name)


@api
async def groupRemove(d: Dispatcher, name: object) -> list[Any]:
    text = as_text(name, "name")
    d.records.remove("group", text)
    for user in d.users.users.values():
        if text in user.groups:
            user.groups = [group for group in user.groups if group != text]
            d.users.put(user)
    return await done(d, "group_remove", name=text)


@api
async def groupConfigure(d: Dispatcher, info: object) -> list[Any]:
    fields = _fields(info, GROUP_FIELDS)
    name = as_text(fields.get("name"), "name")
    _save_group(d, name, fields, d.records.get("group", name))
    return await done(d, "group_configure", name=name)


# -- pools ---------------------------------------------------------------------

POOL_FIELDS: dict[str, type] = {"name": str, "description": str, "nodes": list}


def pool_names(d: Dispatcher) -> list[str]:
    announced = {pool for node in d.queue.nodes.values() for pool in node.pools}
    return sorted(announced | set(d.records.names("pool")))


def _pool_dict(d: Dispatcher, name: str) -> dict[str, Any]:
    info = d.records.find("pool", name) or {}
    members = sorted(node.label for node in d.queue.nodes.values() if name in node.pools)
    return {"name": name, "description": info.get("description", ""), "nodes": members}


def _set_pool_members(d: Dispatcher, name: str, labels: list[str] | None) -> None:
    by_label = {node.label: node for node in d.queue.nodes.values()}
    if labels is not None:
        unknown = [label for label in labels if label not in by_label]
        if unknown:
            raise ValidationError(f"nodes: no node named {unknown[0]!r}", field="nodes")
    wanted = set(labels or ())
    for node in d.queue.nodes.values():
        member = name in node.pools
        should = False if labels is None else node.label in wanted
        if member != should:
            node.pools = sorted(set(node.pools) ^ {name})
            _node_changed(d, node)


def _node_changed(d: Dispatcher, node: Node) -> None:
    d.store.put_node(node)
    session = d.node_server.live.get(node.id)
    if session is not None:
        d.node_server.scheduler.node_free(session)


def apply_configured_pools(d: Dispatcher, node: Node) -> None:
    """A node (re)connected: it joins the configured pools that list it."""
    for name, info in d.records.all("pool"):
        if node.label in info.get("nodes", []) and name not in node.pools:
            node.pools = sorted({*node.pools, name})
            d.store.put_node(node)


@api
def poolGetList(d: Dispatcher) -> list[Any]:
    return [[_pool_dict(d, name) for name in pool_names(d)]]


@api
def poolGet(d: Dispatcher, name: object) -> list[Any]:
    text = as_text(name, "name")
    if text not in pool_names(d):
        raise NotFound(f"no pool named {text!r}")
    return [_pool_dict(d, text)]


@api
async def poolConfigure(d: Dispatcher, info: object) -> list[Any]:
    fields = _fields(info, POOL_FIELDS)
    name = as_text(fields.get("name"), "name")
    if name not in pool_names(d):
        raise NotFound(f"no pool named {name!r}")
    nodes = fields.get("nodes", _pool_dict(d, name)["nodes"])
    _set_pool_members(d, name, nodes)
    d.records.put(
        "pool", name, {"description": fields.get("description", ""), "nodes": sorted(set(nodes))}
    )
    return await done(d, "pool_configure", name=name)


@api
async def poolAdd(d: Dispatcher, info: object) -> list[Any]:
    fields = _fields(info, POOL_FIELDS)
    name = check_name("pool", fields.get("name"))
    if name in pool_names(d):
        raise Conflict(f"a pool named {name!r} exists already")
    nodes = fields.get("nodes", [])
    _set_pool_members(d, name, nodes)
    d.records.add(
        "pool", name, {"description": fields.get("description", ""), "nodes": sorted(set(nodes))}
    )
    return await done(d, "pool_add", name=name)


@api
async def poolRemove(d: Dispatcher, name: object) -> list[Any]:
    text = as_text(name, "name")
    if text not in pool_names(d):
        raise NotFound(f"no pool named {text!r}")
    _set_pool_members(d, text, None)
    if d.records.find("pool", text) is not None:
        d.records.remove("pool", text)
    return await done(d, "pool_remove", name=text)


@api
def poolNotifyChanges(d: Dispatcher) -> list[Any]:
    d.records.notify("pool")
    return []


# -- repositories ----------------------------------------------------------------

REPOSITORY_FIELDS: dict[str, type] = {
    "name": str,
    "description": str,
    "windows": str,
    "mac": str,
    "linux": str,
}


def _repository(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: fields.get(key, "") for key in ("description", "windows", "mac", "linux")}


@api
def repositoriesGetList(d: Dispatcher) -> list[Any]:
    return [[{"name": name, **info} for name, info in d.records.all("repository")]]


@api
def repositoriesGet(d: Dispatcher, name: object) -> list[Any]:
    text = as_text(name, "name")
    return [{"name": text, **d.records.get("repository", text)}]


@api
async def repositoriesConfigure(d: Dispatcher, info: object) -> list[Any]:
    fields = _fields(info, REPOSITORY_FIELDS)
    name = as_text(fields.get("name"), "name")
    previous = d.records.get("repository", name)
    d.records.put("repository", name, {**previous, **_repository({**previous, **fields})})
    return await done(d, "repository_configure", name=name)


@api
async def repositoriesAdd(d: Dispatcher, info: object) -> list[Any]:
    fields = _fields(info, REPOSITORY_FIELDS)
    name = check_name("repository", fields.get("name"))
    d.records.add("repository", name, _repository(fields))
    return await done(d, "repository_add", name=name)


@api
def repositoriesNotifyChanges(d: Dispatcher) -> list[Any]:
    d.records.notify("repository")
    return []


@api
async def repositoriesRemove(d: Dispatcher, name: object) -> list[Any]:
    text = as_text(name, "name")
    d.records.remove("repository", text)
    return await done(d, "repository_remove", name=text)
