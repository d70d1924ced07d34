"""Users, bearer tokens, the farm secret.

On first start the dispatcher creates the user `admin` and writes a random
token to DATA_DIR/admin.token (mode 0600), and a farm secret to
DATA_DIR/farm.secret (mode 0600) that render clients prove with an HMAC.
Tokens are kept as SHA-256 digests; passwords as argon2 hashes.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dispatcher.store.sqlite import SqliteStore

log = logging.getLogger(__name__)


class Permission(enum.StrEnum):
    SUBMIT = "submit"
    MANAGE_OWN = "manage_own"
    MANAGE_ALL = "manage_all"
    MANAGE_NODES = "manage_nodes"
    ADMINISTER = "administer"


ALL_PERMISSIONS = frozenset(Permission)


@dataclass
class User:
    name: str
    permissions: set[Permission] = field(
        default_factory=lambda: {Permission.SUBMIT, Permission.MANAGE_OWN}
    )
    token_digests: list[str] = field(default_factory=list)
    password_hash: str = ""
    groups: list[str] = field(default_factory=list)
    email: str = ""

    def can(self, permission: Permission) -> bool:
        return Permission.ADMINISTER in self.permissions or permission in self.permissions

    def to_json(self) -> bytes:
        return msgspec.json.encode(
            {
                "permissions": sorted(self.permissions),
                "token_digests": self.token_digests,
                "password_hash": self.password_hash,
                "groups": self.groups,
                "email": self.email,
            }
        )

    @classmethod
    def from_json(cls, name: str, text: bytes | str) -> User:
        info = msgspec.json.decode(text)
        return cls(
            name=name,
            permissions={Permission(p) for p in info.get("permissions", [])},
            token_digests=list(info.get("token_digests", [])),
            password_hash=info.get("password_hash", ""),
            groups=list(info.get("groups", [])),
            email=info.get("email", ""),
        )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(path, 0o600)


def farm_secret(data_dir: Path) -> bytes:
    """The farm secret, generated into DATA_DIR/farm.secret on first use."""
    path = data_dir / "farm.secret"
    if not path.exists():
        write_private(path, secrets.token_hex(32) + "\n")
        log.info("action=farm_secret_created path=%s", path)
    return path.read_text().strip().encode()


class Users:
    """The user table in memory, persisted through the store."""

    def __init__(self, store: SqliteStore, data_dir: Path) -> None:
        self.store = store
        self.data_dir = data_dir
        self.users: dict[str, User] = {}
        self._by_token: dict[str, str] = {}
        self._hasher = PasswordHasher()

    def load(self, rows: dict[str, bytes]) -> None:
        for name, info in rows.items():
            self.users[name] = User.from_json(name, info)
        self._reindex()
        if "admin" not in self.users:
            self._create_admin()

    def _create_admin(self) -> None:
        token = secrets.token_urlsafe(32)
        admin = User("admin", permissions=set(ALL_PERMISSIONS), token_digests=[_digest(token)])
        self.put(admin)
        write_private(self.data_dir / "admin.token", token + "\n")
        log.info("action=admin_created token_file=%s", self.data_dir / "admin.token")

    def _reindex(self) -> None:
        self._by_token = {d: u.name for u in self.users.values() for d in u.token_digests}

    def put(self, user: User) -> None:
        self.users[user.name] = user
        self.store.put_user(user.name, user.to_json())
        self._reindex()

    def remove(self, name: str) -> None:
        self.users.pop(name, None)
        self.store.put_user(name, None)
        self._reindex()

    def restore(self, name: str, info: bytes | None) -> None:
        """Put a user back to the store's copy (None: not stored) after a refused change."""
        if info is None:
            self.users.pop(name, None)
        else:
            self.users[name] = User.from_json(name, info)
        self._reindex()

    def by_token(self, token: str) -> User | None:
        name = self._by_token.get(_digest(token))
        return self.users.get(name) if name else None

    def new_token(self, user: User) -> str:
        token = secrets.token_urlsafe(32)
        user.token_digests.append(_digest(token))
        self.put(user)
        return token

    def set_password(self, user: User, password: str) -> None:
        user.password_hash = self._hasher.hash(password)
        self.put(user)

    def check_password(self, name: str, password: str) -> User | None:
        user = self.users.get(name)
        if user is None or not user.password_hash:
            self._hasher.hash(password)  # same cost whether or not the user exists
            return None
        try:
            self._hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        return user
