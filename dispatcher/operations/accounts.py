"""Account operations: users, groups, passwords, tokens and logging in.

Changing users and groups needs administer. Anyone may log in (rate limited per
user name and per client address), log out, list and revoke their own tokens and
set their own password given the old one; an administrator lists and revokes
every token and sets anyone's password. A user's effective permissions are their
own and their groups'.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from typing import Any

from dispatcher.auth import ADMIN_FILE, SESSION, Permission, Token, User, effective_permissions
from dispatcher.directory import Directory, DirectoryConfig
from dispatcher.errors import (
    AuthenticationFailed,
    Conflict,
    DirectoryUnavailable,
    NotFound,
    PermissionDenied,
    TooManyAttempts,
    ValidationError,
)
from dispatcher.events import AccountEvent
from dispatcher.loginlimit import LoginLimiter
from dispatcher.operations.actor import Actor
from dispatcher.operations.farm import Area, Farm
from dispatcher.records import check_name
from dispatcher.views import iso

log = logging.getLogger(__name__)

MAX_TEXT = 4096
MAX_CREDENTIAL_CHARS = 1024
MIN_PASSWORD_CHARS = 8
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
            "permissions": sorted(permission.value for permission in user.permissions), "ldap": user.ldap}  # fmt: skip


def directory_view(name: str) -> dict[str, Any]:
    """A directory user the dispatcher does not know yet: a new user's permissions."""
    return {"name": name, "email": "", "groups": [], "ldap": True,
            "permissions": sorted(permission.value for permission in User(name).permissions)}  # fmt: skip


def token_view(user: User, token: Token, *, current: bool = False) -> dict[str, Any]:
    """A token as listings show it: never the token nor its digest."""
    return {"id": token.id, "user": user.name, "kind": token.kind, "created": iso(token.created),
            "last_used": iso(token.last_used or None), "expires": iso(token.expires),
            "current": current}  # fmt: skip


class AccountOperations(Area):
    """Users, groups, passwords, tokens and logging in (by password or the directory)."""

    def __init__(self, farm: Farm) -> None:
        super().__init__(farm)
        self.limiter = LoginLimiter()
        self.directory = Directory(farm.settings.ldap_timeout_s)
        # The LDAP configuration in use (SystemOperations keeps it; Operations wires it).
        self.ldap_config: Callable[[], dict[str, Any]] = dict

    async def _done(self, actor: Actor, action: str, kind: str, name: str) -> None:
        event = AccountEvent(action=action, actor=actor.name, kind=kind, name=name)
        await self.finish(actor, event, name=name)

    @property
    def token_ttl_s(self) -> float:
        """How long a token from a login lives."""
        return self.farm.users.token_ttl_s

    def actor_for(self, user: User, token_id: str = "") -> Actor:
        """The actor a user stands for, with their own and their groups' permissions."""
        return Actor.of_user(user, effective_permissions(user, self.farm.records), token_id)

    # -- logging in ----------------------------------------------------------------
    async def login(self, name: object, password: object, *, address: str = "") -> tuple[User, str]:
        """A new bearer token for a user's name and password; AuthenticationFailed otherwise,
        TooManyAttempts (429) past the login rate limit. `address` is the client's."""
        user = await self._verify(name, password, address)
        token = self.farm.users.new_token(user)
        await self._done(self.actor_for(user), "login", "user", user.name)
        return user, token

    async def login_session(
        self, name: object, password: object, *, address: str = ""
    ) -> tuple[User, str, str]:
        """A session token for a browser's cookie and the CSRF token its writes carry."""
        user = await self._verify(name, password, address)
        token, csrf = self.farm.users.new_session(user)
        await self._done(self.actor_for(user), "login_session", "user", user.name)
        return user, token, csrf

    async def _verify(self, name: object, password: object, address: str) -> User:
        for field, value in (("username", name), ("password", password)):
            if not isinstance(value, str) or not value or len(value) > MAX_CREDENTIAL_CHARS:
                raise ValidationError(
                    f"{field}: required, 1-{MAX_CREDENTIAL_CHARS} characters", field=field
                )
        assert isinstance(name, str) and isinstance(password, str)
        settings = self.farm.settings
        keys = [f"user:{name}"] + ([f"address:{address}"] if address else [])
        wait = self.limiter.retry_after(keys, settings.login_max_failures, settings.login_window_s)
        if wait > 0:
            self.farm.actions.record(name, "login_limited", address=address)
            raise TooManyAttempts(
                f"too many failed logins; try again in {math.ceil(wait)} s", retry_after_s=wait
            )
        users = self.farm.users
        known = users.users.get(name)
        config = DirectoryConfig.from_record(self.ldap_config())
        user: User | None = None
        if (known is not None and not known.ldap) or config is None:
            # argon2 is slow on purpose: verify off the loop so other requests go on.
            user = await asyncio.to_thread(users.check_password, name, password)
        else:
            user = await self._directory_login(config, name, password)
        if user is None:
            self.limiter.failed(keys, settings.login_max_failures)
            await asyncio.sleep(FAILED_LOGIN_DELAY_S)
            self.farm.actions.record(name, "login_failed", address=address)
            raise AuthenticationFailed("unknown user or wrong password")
        self.limiter.forget(keys[0])
        return user

    async def _directory_login(
        self, config: DirectoryConfig, name: str, password: str
    ) -> User | None:
        """The directory checks the password; a first login makes the user known (marked as
        a directory user, with a new user's permissions) so they can hold tokens."""
        found = await self.directory.authenticate(config, name, password)
        if found is None:
            return None
        users = self.farm.users
        user = users.users.get(found)
        if user is None:
            self.writable()
            user = User(check_name("user", found), ldap=True)
            users.put(user)
            log.info("action=directory_user_added user=%s", found)
        return user if user.ldap else None  # a local account of that name is not the directory's

    def authenticate(self, token: str) -> Actor | None:
        """The actor a bearer token stands for, or None (unknown, revoked or expired)."""
        found = self.farm.users.by_token(token)
        if found is None:
            return None
        user, record = found
        return self.actor_for(user, record.id)

    def authenticate_session(self, token: str, csrf: str | None, *, write: bool) -> Actor | None:
        """The actor a session cookie stands for, or None. A write must carry the session's
        CSRF token (PermissionDenied otherwise): a page of another site can make the browser
        send the cookie, but cannot read the CSRF token."""
        found = self.farm.users.by_token(token)
        if found is None or found[1].kind != SESSION:
            return None
        user, record = found
        if write and not (csrf and self.farm.users.csrf_matches(record, csrf)):
            raise PermissionDenied(
                "a write with the session cookie needs the X-CSRF-Token header given at login"
            )
        return self.actor_for(user, record.id)

    async def logout(self, actor: Actor) -> str:
        """Revoke the token the actor's request came with; returns its id. The admin file's
        token is refused (Conflict): it is revoked by its id, which rotates it."""
        found = self.farm.users.find_token(actor.token_id) if actor.token_id else None
        if found is None:
            raise ValidationError("this request came with no token to revoke")
        if found[1].kind == ADMIN_FILE:  # it is the file's, not a login's: revoking rotates it
            raise Conflict(
                "the token of admin.token does not log out; revoke it by its id"
                " (corral tokens revoke ID) to have a new one written into the file"
            )
        self.writable()
        self.farm.users.revoke(*found)
        await self._done(actor, "logout", "token", actor.token_id)
        return actor.token_id

    # -- passwords -----------------------------------------------------------------
    async def set_password(
        self, actor: Actor, name: object, password: object, old_password: object = None
    ) -> User:
        """Set a user's password. An administrator sets anyone's; a user their own, giving
        the old one. Directory users change theirs in the directory."""
        user = self.user(actor, name)
        if user.name != actor.name:
            actor.require(Permission.ADMINISTER)
        if (
            not isinstance(password, str)
            or not MIN_PASSWORD_CHARS <= len(password) <= MAX_CREDENTIAL_CHARS
        ):
            raise ValidationError(
                f"password: {MIN_PASSWORD_CHARS}-{MAX_CREDENTIAL_CHARS} characters",
                field="password",
            )
        if user.ldap:
            raise Conflict(f"{user.name} is a directory user: change the password in the directory")
        users = self.farm.users
        if not actor.can(Permission.ADMINISTER):
            if not isinstance(old_password, str) or not old_password:
                raise ValidationError(
                    "old_password: your current password is required", field="old_password"
                )
            checked = await asyncio.to_thread(
                users.check_password, user.name, old_password[:MAX_CREDENTIAL_CHARS]
            )
            if checked is None:
                await asyncio.sleep(FAILED_LOGIN_DELAY_S)
                raise AuthenticationFailed("old_password: wrong password")
        self.writable()
        digest = await asyncio.to_thread(users.hash_password, password)
        user = self.user(actor, user.name)  # as it is now, after the wait
        user.password_hash = digest
        users.put(user)
        await self._done(actor, "password_set", "user", user.name)
        return user

    # -- tokens --------------------------------------------------------------------
    def tokens(self, actor: Actor, user: object = None) -> list[dict[str, Any]]:
        """Live tokens: an administrator's listing covers every user (or `user`); anyone
        else sees only their own."""
        if user is not None:
            name = name_of(user)
            if name != actor.name:
                actor.require(Permission.ADMINISTER)
        elif not actor.can(Permission.ADMINISTER):
            name = actor.name
        else:
            name = None
        return [
            token_view(owner, record, current=record.id == actor.token_id)
            for owner, record in self.farm.users.all_tokens()
            if name is None or owner.name == name
        ]

    async def revoke_token(self, actor: Actor, token_id: object) -> None:
        """Revoke a token by its id: one's own, or any with administer."""
        if not isinstance(token_id, str) or not token_id or len(token_id) > 64:
            raise ValidationError("id: a token id as the token listing shows it", field="id")
        found = self.farm.users.find_token(token_id)
        if found is None:
            raise NotFound(f"no token with id {token_id!r}")
        if found[0].name != actor.name:
            actor.require(Permission.ADMINISTER)
        self.writable()
        self.farm.users.revoke(*found)
        await self._done(actor, "token_revoke", "token", token_id)

    # -- the directory ---------------------------------------------------------------
    async def user_list(self, actor: Actor) -> list[dict[str, Any]]:
        """Every user as userGetList shows them: the dispatcher's, then the directory's not
        yet known here, named with the directory's prefix (`@directory@NAME`). A directory
        that does not answer leaves its users out (logged)."""
        views = [user_view(user) for user in self.users(actor)]
        info = self.ldap_config()
        config = DirectoryConfig.from_record(info)
        if config is None:
            return views
        try:
            names = await self.directory.user_names(config)
        except DirectoryUnavailable as exc:
            log.warning("action=directory_listing_failed reason=%s; listing local users only", exc)
            return views
        prefix = f"@{info.get('directory') or 'directory'}@"
        known = {user.name for user in self.farm.users.users.values() if user.ldap}
        views += [directory_view(prefix + name) for name in names if name not in known]
        return views

    # -- users ---------------------------------------------------------------------
    def users(self, actor: Actor) -> list[User]:
        return [user for _, user in sorted(self.farm.users.users.items())]

    def user(self, actor: Actor, name: object) -> User:
        text = name_of(name)
        user = self.farm.users.users.get(text)
        if user is None:
            raise NotFound(f"no user named {text!r}")
        return user

    async def _apply_user(self, user: User, info: dict[str, Any], *, new: bool) -> None:
        """Check every field, hash a new password off the loop, then change the user: a
        refused change leaves the user as it was."""
        users, records = self.farm.users, self.farm.records
        groups = permissions = None
        if "groups" in info:
            unknown = [group for group in info["groups"] if records.find("group", group) is None]
            if unknown:
                raise ValidationError(f"groups: no group named {unknown[0]!r}", field="groups")
            groups = sorted(set(info["groups"]))
        if "permissions" in info:
            permissions = _permissions(info["permissions"])
            if user.name == "admin" and Permission.ADMINISTER not in permissions:
                raise PermissionDenied("the admin user keeps the administer permission")
        digest = None
        if info.get("password"):
            # argon2 is slow on purpose: hash off the loop so other requests go on.
            digest = await asyncio.to_thread(users.hash_password, info["password"])
        current = users.users.get(user.name)
        if new and current is not None:
            raise Conflict(f"a user named {user.name!r} exists already")
        if not new and current is not user:
            raise NotFound(f"no user named {user.name!r}")
        if "email" in info:
            user.email = info["email"]
        if groups is not None:
            user.groups = groups
        if permissions is not None:
            user.permissions = permissions
        if digest is not None:
            user.password_hash = digest
        users.put(user)

    async def add_user(self, actor: Actor, info: object) -> User:
        actor.require(Permission.ADMINISTER)
        self.writable()
        fields = checked_fields(info, USER_FIELDS)
        name = check_name("user", fields.get("name"))
        if name in self.farm.users.users:
            raise Conflict(f"a user named {name!r} exists already")
        user = User(name)
        await self._apply_user(user, fields, new=True)
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
        await self._apply_user(user, fields, new=False)
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
