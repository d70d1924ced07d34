"""Users, their tokens and passwords, the farm secret.

On first start the dispatcher creates the user `admin` with a generated first
password (shown once by the entry point, stored only as an argon2 hash), writes
a random token to DATA_DIR/admin.token (mode 0600), and a farm secret to
DATA_DIR/farm.secret (mode 0600) that render clients prove with an HMAC.
Tokens are kept as SHA-256 digests with an id, their creation, last use and
expiry; the admin file's token does not expire. Passwords are argon2 hashes.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import hmac
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dispatcher.records import Records
from dispatcher.store.sqlite import SqliteStore

log = logging.getLogger(__name__)

ADMIN_TOKEN_FILE = "admin.token"


class Permission(enum.StrEnum):
    SUBMIT = "submit"
    MANAGE_OWN = "manage_own"
    MANAGE_ALL = "manage_all"
    MANAGE_NODES = "manage_nodes"
    ADMINISTER = "administer"


ALL_PERMISSIONS = frozenset(Permission)


# A user keeps at most this many tokens; a new one past it revokes the oldest.
MAX_TOKENS_PER_USER = 64
# How stale a token's stored "last used" time may be: it is written back at most this
# often, so a busy script does not turn every request into a store write.
LAST_USED_RESOLUTION_S = 60.0
DEFAULT_TOKEN_TTL_S = 30 * 24 * 3600.0

BEARER, SESSION, ADMIN_FILE = "bearer", "session", "admin_file"


@dataclass
class Token:
    """One issued token, kept as its SHA-256 digest. `id` names it in listings and
    revocations and reveals nothing of the token. `expires` is None for the token of
    DATA_DIR/admin.token, which does not expire. A `session` token is a browser's
    cookie; `csrf_digest` is the digest of the CSRF token its writes must carry."""

    id: str
    digest: str
    created: float
    expires: float | None
    kind: str = BEARER
    last_used: float = 0.0
    csrf_digest: str = ""

    def expired(self, now: float) -> bool:
        return self.expires is not None and now >= self.expires

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "digest": self.digest, "created": self.created,
                "expires": self.expires, "kind": self.kind, "last_used": self.last_used,
                "csrf_digest": self.csrf_digest}  # fmt: skip

    @classmethod
    def from_dict(cls, info: dict[str, Any]) -> Token:
        return cls(
            id=str(info["id"]),
            digest=str(info["digest"]),
            created=float(info.get("created", 0.0)),
            expires=None if info.get("expires") is None else float(info["expires"]),
            kind=str(info.get("kind", BEARER)),
            last_used=float(info.get("last_used", 0.0)),
            csrf_digest=str(info.get("csrf_digest", "")),
        )


@dataclass
class User:
    """An account. `permissions` are the user's own; a user also holds every permission
    of the groups they belong to (`effective_permissions`). `ldap` marks a user whose
    password the directory checks."""

    name: str
    permissions: set[Permission] = field(
        default_factory=lambda: {Permission.SUBMIT, Permission.MANAGE_OWN}
    )
    tokens: list[Token] = field(default_factory=list)
    password_hash: str = ""
    groups: list[str] = field(default_factory=list)
    email: str = ""
    ldap: bool = False
    # Digests stored by versions before tokens had ids and expiry; `Users.load` turns
    # them into tokens.
    legacy_digests: list[str] = field(default_factory=list)

    def can(self, permission: Permission) -> bool:
        """The user's own permissions only; an `Actor` adds the groups'."""
        return Permission.ADMINISTER in self.permissions or permission in self.permissions

    def to_json(self) -> bytes:
        return msgspec.json.encode(
            {
                "permissions": sorted(self.permissions),
                "tokens": [token.to_dict() for token in self.tokens],
                "password_hash": self.password_hash,
                "groups": self.groups,
                "email": self.email,
                "ldap": self.ldap,
            }
        )

    @classmethod
    def from_json(cls, name: str, text: bytes | str) -> User:
        info = msgspec.json.decode(text)
        return cls(
            name=name,
            permissions={Permission(p) for p in info.get("permissions", [])},
            tokens=[Token.from_dict(token) for token in info.get("tokens", [])],
            password_hash=info.get("password_hash", ""),
            groups=list(info.get("groups", [])),
            email=info.get("email", ""),
            ldap=bool(info.get("ldap", False)),
            legacy_digests=list(info.get("token_digests", [])),
        )


def effective_permissions(user: User, records: Records) -> frozenset[Permission]:
    """The user's own permissions and those of every group they belong to."""
    held = set(user.permissions)
    for group in user.groups:
        info = records.find("group", group)
        for name in (info or {}).get("permissions", []):
            with contextlib.suppress(ValueError):  # a name from a newer version: ignored
                held.add(Permission(name))
    return frozenset(held)


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


# The meta key that holds the farm secret in a PostgreSQL store (shared by every
# dispatcher on the database; docs/scaling.md).
FARM_SECRET_META = "farm_secret"


def adopt_farm_secret(data_dir: Path, secret: str) -> None:
    """Make DATA_DIR/farm.secret hold `secret` (the store's), for the render clients and
    tools of this machine that read the file."""
    path = data_dir / "farm.secret"
    if path.exists() and path.read_text().strip() == secret:
        return
    write_private(path, secret + "\n")
    log.info("action=farm_secret_adopted path=%s source=store", path)


class Users:
    """The user table in memory, persisted through the store.

    `token_ttl_s` is how long a new token lives (the admin file's token does not
    expire). `first_password` holds the admin's generated first password until the
    entry point has shown it (`take_first_password`); only its argon2 hash is stored.
    """

    def __init__(
        self, store: SqliteStore, data_dir: Path, *, token_ttl_s: float = DEFAULT_TOKEN_TTL_S
    ) -> None:
        self.store = store
        self.data_dir = data_dir
        self.token_ttl_s = token_ttl_s
        self.users: dict[str, User] = {}
        self._by_token: dict[str, tuple[str, Token]] = {}
        self._hasher = PasswordHasher()
        self.first_password: str | None = None

    def load(self, rows: dict[str, bytes]) -> None:
        now = time.time()
        for name, info in rows.items():
            user = User.from_json(name, info)
            self.users[name] = user
            if user.legacy_digests:
                self._adopt_legacy(user, now)
        self._reindex()
        if "admin" not in self.users:
            self._create_admin()

    def reload(self, rows: dict[str, bytes]) -> None:
        """Take the stored users again in place of these (a standby's refreshed view)."""
        self.users.clear()
        for name, info in rows.items():
            self.users[name] = User.from_json(name, info)
        self._reindex()

    def _adopt_legacy(self, user: User, now: float) -> None:
        """Give token digests stored by an older version an id and an expiry (the admin
        file's keeps none)."""
        admin_file = _read_token(self.data_dir / ADMIN_TOKEN_FILE)
        admin_digest = _digest(admin_file) if admin_file else ""
        for digest in user.legacy_digests:
            if digest == admin_digest:
                user.tokens.append(_token(digest, now, None, ADMIN_FILE))
            else:
                user.tokens.append(_token(digest, now, now + self.token_ttl_s, BEARER))
        user.legacy_digests = []
        self.store.put_user(user.name, user.to_json())
        log.info("action=legacy_tokens_adopted user=%s tokens=%d", user.name, len(user.tokens))

    def _create_admin(self) -> None:
        token = secrets.token_urlsafe(32)
        password = secrets.token_urlsafe(15)
        admin = User("admin", permissions=set(ALL_PERMISSIONS))
        admin.tokens.append(_token(_digest(token), time.time(), None, ADMIN_FILE))
        admin.password_hash = self._hasher.hash(password)
        self.put(admin)
        write_private(self.data_dir / ADMIN_TOKEN_FILE, token + "\n")
        self.first_password = password
        log.info("action=admin_created token_file=%s", self.data_dir / ADMIN_TOKEN_FILE)

    def take_first_password(self) -> str | None:
        """The admin's generated first password, once (None afterwards, and after a
        restart: it is not kept anywhere)."""
        password, self.first_password = self.first_password, None
        return password

    def _reindex(self) -> None:
        self._by_token = {
            token.digest: (user.name, token)
            for user in self.users.values()
            for token in user.tokens
        }

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

    # -- tokens --------------------------------------------------------------------
    def by_token(self, token: str) -> tuple[User, Token] | None:
        """The user and the token record a token stands for; None when unknown or expired."""
        found = self._by_token.get(_digest(token))
        if found is None:
            return None
        name, record = found
        user = self.users.get(name)
        now = time.time()
        if user is None or record.expired(now):
            return None
        if now - record.last_used >= LAST_USED_RESOLUTION_S and self.store.writable:
            record.last_used = now
            self.store.put_user(user.name, user.to_json())
        return user, record

    def new_token(self, user: User, kind: str = BEARER) -> str:
        """A new token for `user`, expiring after `token_ttl_s`."""
        token, _ = self._issue(user, kind)
        return token

    def new_session(self, user: User) -> tuple[str, str]:
        """A session token for a browser's cookie and the CSRF token its writes carry."""
        return self._issue(user, SESSION)

    def _issue(self, user: User, kind: str) -> tuple[str, str]:
        now = time.time()
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24) if kind == SESSION else ""
        kept = [t for t in user.tokens if not t.expired(now)]
        while len(kept) >= MAX_TOKENS_PER_USER:  # the oldest bearer or session token goes
            oldest = min((t for t in kept if t.kind != ADMIN_FILE), key=lambda t: t.created)
            kept.remove(oldest)
        record = _token(_digest(token), now, now + self.token_ttl_s, kind)
        record.csrf_digest = _digest(csrf) if csrf else ""
        user.tokens = [*kept, record]
        self.put(user)
        return token, csrf

    def all_tokens(self) -> list[tuple[User, Token]]:
        """Every live token with its user, oldest first."""
        now = time.time()
        found = [(u, t) for u in self.users.values() for t in u.tokens if not t.expired(now)]
        return sorted(found, key=lambda pair: (pair[1].created, pair[1].id))

    def find_token(self, token_id: str) -> tuple[User, Token] | None:
        now = time.time()
        for user in self.users.values():
            for record in user.tokens:
                if record.id == token_id and not record.expired(now):
                    return user, record
        return None

    def revoke(self, user: User, record: Token) -> None:
        """Forget a token. Revoking the admin file's token writes a new one into the file,
        so the local administrator keeps a way in."""
        user.tokens = [t for t in user.tokens if t.id != record.id]
        if record.kind == ADMIN_FILE:
            token = secrets.token_urlsafe(32)
            user.tokens.append(_token(_digest(token), time.time(), None, ADMIN_FILE))
            write_private(self.data_dir / ADMIN_TOKEN_FILE, token + "\n")
            log.warning(
                "action=admin_token_rotated token_file=%s", self.data_dir / ADMIN_TOKEN_FILE
            )
        self.put(user)

    @staticmethod
    def csrf_matches(record: Token, csrf: str) -> bool:
        return bool(record.csrf_digest) and hmac.compare_digest(record.csrf_digest, _digest(csrf))

    # -- passwords -----------------------------------------------------------------
    def set_password(self, user: User, password: str) -> None:
        user.password_hash = self._hasher.hash(password)
        self.put(user)

    def hash_password(self, password: str) -> str:
        """An argon2 hash (slow on purpose: call it off the loop)."""
        return self._hasher.hash(password)

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


def _token(digest: str, created: float, expires: float | None, kind: str) -> Token:
    return Token(secrets.token_hex(8), digest, created, expires, kind)


def _read_token(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""
