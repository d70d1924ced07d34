"""Account operations: users, groups and logging in. Changes need administer."""

from __future__ import annotations

import asyncio
from typing import Any

from dispatcher.auth import Permission, User
from dispatcher.errors import (
    AuthenticationFailed,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from dispatcher.events import AccountEvent
from dispatcher.operations.actor import Actor
from dispatcher.operations.farm import Area
from dispatcher.records import check_name

MAX_TEXT = 4096
MAX_CREDENTIAL_CHARS = 1024
FAILED_LOGIN_DELAY_S = 0.5

USER_FIELDS: dict[str, type] = {
    "name": str,
    "email": str,
    "groups": list,
    "permissions": list,
    "password": str,
}
GROUP_FIELDS: dict[str, type] = {
    "name": str,
    "description": str,
    "permissions": list,
    "users": list,
}


def checked_fields(info: object, allowed: dict[str, type]) -> dict[str, Any]:
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


def name_of(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("name: a non-empty string is required", field="name")
    return value


def _permissions(names: list[str]) -> set[Permission]:
    try:
        return {Permission(name) for name in names}
    except ValueError:
        known = ", ".join(permission.value for permission in Permission)
        raise ValidationError(f"permissions: one of {known}", field="permissions") from None


def user_view(user: User) -> dict[str, Any]:
    return {"name": user.name, "email": user.email, "groups": list(user.groups),
            "permissions": sorted(permission.value for permission in user.permissions), "ldap": False}  # fmt: skip


class AccountOperations(Area):
    async def _done(self, actor: Actor, action: str, kind: str, name: str) -> None:
        event = AccountEvent(action=action, actor=actor.name, kind=kind, name=name)
        await self.finish(actor, event, name=name)

    # -- logging in ----------------------------------------------------------------
    async def login(self, name: object, password: object) -> tuple[User, str]:
        """A new bearer token for a user's name and password; AuthenticationFailed otherwise."""
        for field, value in (("username", name), ("password", password)):
            if not isinstance(value, str) or not value or len(value) > MAX_CREDENTIAL_CHARS:
                raise ValidationError(
                    f"{field}: required, 1-{MAX_CREDENTIAL_CHARS} characters", field=field
                )
        assert isinstance(name, str) and isinstance(password, str)
        users = self.farm.users
        # argon2 is slow on purpose: verify off the loop so other requests go on.
        user = await asyncio.to_thread(users.check_password, name, password)
        if user is None:
            await asyncio.sleep(FAILED_LOGIN_DELAY_S)
            self.farm.actions.record(name, "login_failed")
            raise AuthenticationFailed("unknown user or wrong password")
        token = users.new_token(user)
        actor = Actor.of_user(user)
        await self._done(actor, "login", "user", user.name)
        return user, token

    def authenticate(self, token: str) -> Actor | None:
        """The actor a bearer token stands for, or None."""
        user = self.farm.users.by_token(token)
        return None if user is None else Actor.of_user(user)

    def user_named(self, name: str) -> User | None:
        return self.farm.users.users.get(name)

    # -- users ---------------------------------------------------------------------
    def users(self, actor: Actor) -> list[User]:
        return [user for _, user in sorted(self.farm.users.users.items())]

    def user(self, actor: Actor, name: object) -> User:
        text = name_of(name)
        user = self.farm.users.users.get(text)
        if user is None:
            raise NotFound(f"no user named {text!r}")
        return user

    def _apply_user(self, user: User, info: dict[str, Any]) -> None:
        users, records = self.farm.users, self.farm.records
        if "email" in info:
            user.email = info["email"]
        if "groups" in info:
            unknown = [group for group in info["groups"] if records.find("group", group) is None]
            if unknown:
                raise ValidationError(f"groups: no group named {unknown[0]!r}", field="groups")
            user.groups = sorted(set(info["groups"]))
        if "permissions" in info:
            permissions = _permissions(info["permissions"])
            if user.name == "admin" and Permission.ADMINISTER not in permissions:
                raise PermissionDenied("the admin user keeps the administer permission")
            user.permissions = permissions
        if info.get("password"):
            users.set_password(user, info["password"])
        users.put(user)

    async def add_user(self, actor: Actor, info: object) -> User:
        actor.require(Permission.ADMINISTER)
        self.writable()
        fields = checked_fields(info, USER_FIELDS)
        name = check_name("user", fields.get("name"))
        if name in self.farm.users.users:
            raise Conflict(f"a user named {name!r} exists already")
        user = User(name)
        self._apply_user(user, fields)
        await self._done(actor, "user_add", "user", name)
        return user

    async def remove_user(self, actor: Actor, name: object) -> None:
        actor.require(Permission.ADMINISTER)
        self.writable()
        user = self.user(actor, name)
        if user.name == "admin":
            raise PermissionDenied("the admin user cannot be removed")
        self.farm.users.remove(user.name)
        await self._done(actor, "user_remove", "user", user.name)

    async def configure_user(self, actor: Actor, info: object) -> User:
        actor.require(Permission.ADMINISTER)
        self.writable()
        fields = checked_fields(info, USER_FIELDS)
        user = self.user(actor, fields.get("name"))
        self._apply_user(user, fields)
        await self._done(actor, "user_configure", "user", user.name)
        return user

    # -- groups --------------------------------------------------------------------
    def _group_view(self, name: str, info: dict[str, Any]) -> dict[str, Any]:
        users = self.farm.users.users.values()
        members = sorted(user.name for user in users if name in user.groups)
        return {"name": name, "description": info.get("description", ""),
                "permissions": info.get("permissions", []), "users": members}  # fmt: skip

    def groups(self, actor: Actor) -> list[dict[str, Any]]:
        return [self._group_view(name, info) for name, info in self.farm.records.all("group")]

    def group(self, actor: Actor, name: object) -> dict[str, Any]:
        text = name_of(name)
        return self._group_view(text, self.farm.records.get("group", text))

    def _save_group(self, name: str, fields: dict[str, Any], previous: dict[str, Any]) -> None:
        users = self.farm.users
        permissions = sorted(
            p.value
            for p in _permissions(fields.get("permissions", previous.get("permissions", [])))
        )
        record = {
            "description": fields.get("description", previous.get("description", "")),
            "permissions": permissions,
        }
        if "users" in fields:
            unknown = [member for member in fields["users"] if member not in users.users]
            if unknown:
                raise ValidationError(f"users: no user named {unknown[0]!r}", field="users")
        self.farm.records.put("group", name, record)
        if "users" in fields:
            wanted = set(fields["users"])
            for user in users.users.values():
                if (user.name in wanted) != (name in user.groups):
                    user.groups = sorted(set(user.groups) ^ {name})
                    users.put(user)

    async def add_group(self, actor: Actor, info: object) -> dict[str, Any]:
        actor.require(Permission.ADMINISTER)
        self.writable()
        fields = checked_fields(info, GROUP_FIELDS)
        name = check_name("group", fields.get("name"))
        if self.farm.records.find("group", name) is not None:
            raise Conflict(f"a group named {name!r} exists already")
        self._save_group(name, fields, {})
        await self._done(actor, "group_add", "group", name)
        return self.group(actor, name)

    async def remove_group(self, actor: Actor, name: object) -> None:
        actor.require(Permission.ADMINISTER)
        self.writable()
        text = name_of(name)
        self.farm.records.remove("group", text)
        users = self.farm.users
        for user in users.users.values():
            if text in user.groups:
                user.groups = [group for group in user.groups if group != text]
                users.put(user)
        await self._done(actor, "group_remove", "group", text)

    async def configure_group(self, actor: Actor, info: object) -> dict[str, Any]:
        actor.require(Permission.ADMINISTER)
        self.writable()
        fields = checked_fields(info, GROUP_FIELDS)
        name = name_of(fields.get("name"))
        self._save_group(name, fields, self.farm.records.get("group", name))
        await self._done(actor, "group_configure", "group", name)
        return self.group(actor, name)
