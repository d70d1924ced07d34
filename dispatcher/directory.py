"""Directory (LDAP) authentication and listing, with ldap3.

The configuration is the one systemSetLDAPConfiguration stores (an
MLDAPConfiguration's fields). A login for a user the dispatcher does not know,
or one marked as a directory user, is checked here: the dispatcher binds with
`bind_user`/`bind_password` (anonymously when `bind_user` is empty), finds the
one entry under `base_dn` matching `user_filter` whose `user_attribute` is the
name given, then binds as that entry with the password given. Every call runs
in a worker thread (ldap3 is blocking) with connect and receive timeouts, and
the loop waits for it no longer than `timeout_s` twice over.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dispatcher.errors import DirectoryUnavailable

if TYPE_CHECKING:
    import ldap3

# ldap3 is imported on first use (in the worker thread): a dispatcher without a
# directory never loads it.

log = logging.getLogger(__name__)

DIRECTORY_PREFIX = "@directory@"
"""How userGetList names the directory's users (as Muster's seed says)."""

MAX_DIRECTORY_USERS = 5_000
DEFAULT_USER_ATTRIBUTE = "uid"


@dataclass(frozen=True, slots=True)
class DirectoryConfig:
    server: str
    port: int
    use_ssl: bool
    base_dn: str
    bind_user: str
    bind_password: str
    user_filter: str
    user_attribute: str

    @classmethod
    def from_record(cls, info: dict[str, Any]) -> DirectoryConfig | None:
        """The configuration in use, or None when the directory is off or unnamed."""
        if not info.get("enabled") or not str(info.get("server", "")).strip():
            return None
        found = str(info.get("user_filter") or "(objectClass=person)").strip()
        return cls(
            server=str(info["server"]).strip(),
            port=int(info.get("port") or (636 if info.get("use_ssl") else 389)),
            use_ssl=bool(info.get("use_ssl", False)),
            base_dn=str(info.get("base_dn", "")),
            bind_user=str(info.get("bind_user", "")),
            bind_password=str(info.get("bind_password", "")),
            user_filter=found if found.startswith("(") else f"({found})",
            user_attribute=str(info.get("user_attribute") or DEFAULT_USER_ATTRIBUTE),
        )


class Directory:
    """Checks passwords against, and lists the users of, a configured directory."""

    def __init__(self, timeout_s: float = 5.0) -> None:
        self.timeout_s = timeout_s
        # ldap3 sets the socket's receive timeout from a whole number of seconds.
        self._receive_timeout_s = max(1, math.ceil(timeout_s))

    async def authenticate(self, config: DirectoryConfig, name: str, password: str) -> str | None:
        """The directory's spelling of the user's name when the password is right, else None.
        DirectoryUnavailable when the directory does not answer or refuses our own bind."""
        return await self._off_loop(self._authenticate, config, name, password)

    async def user_names(self, config: DirectoryConfig) -> list[str]:
        """The names of the directory's users (at most MAX_DIRECTORY_USERS), sorted."""
        result: list[str] = await self._off_loop(self._user_names, config)
        return result

    async def _off_loop(self, fn: Any, *args: Any) -> Any:
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(fn, *args), 2 * self._receive_timeout_s + 1
            )
        except TimeoutError:
            raise DirectoryUnavailable(
                f"the directory did not answer within {2 * self._receive_timeout_s + 1:g} s",
                "timeout",
            ) from None

    # -- in a worker thread ---------------------------------------------------------
    def _server(self, config: DirectoryConfig) -> ldap3.Server:
        import ldap3

        return ldap3.Server(
            config.server,
            port=config.port,
            use_ssl=config.use_ssl,
            connect_timeout=self.timeout_s,
            get_info=ldap3.NONE,
        )

    def _service(self, server: ldap3.Server, config: DirectoryConfig) -> ldap3.Connection:
        """A connection bound as the dispatcher's own account (or anonymously)."""
        import ldap3
        from ldap3.core.exceptions import LDAPException

        connection = ldap3.Connection(
            server,
            user=config.bind_user or None,
            password=config.bind_password or None,
            receive_timeout=self._receive_timeout_s,
            read_only=True,
            raise_exceptions=False,
        )
        try:
            bound = connection.bind()
        except LDAPException as exc:
            raise DirectoryUnavailable(
                f"cannot reach the directory at {config.server}:{config.port}: {exc}", str(exc)
            ) from exc
        if not bound:
            description = connection.result.get("description", "refused")
            connection.unbind()
            raise DirectoryUnavailable(
                f"the directory refused the dispatcher's bind as {config.bind_user or 'anonymous'}:"
                f" {description}",
                str(description),
            )
        return connection

    def _authenticate(self, config: DirectoryConfig, name: str, password: str) -> str | None:
        import ldap3
        from ldap3.core.exceptions import LDAPException
        from ldap3.utils.conv import escape_filter_chars

        if not password:  # an empty password is an anonymous bind: it proves nothing
            return None
        server = self._server(config)
        attribute = config.user_attribute
        service = self._service(server, config)
        try:
            query = f"(&{config.user_filter}({attribute}={escape_filter_chars(name)}))"
            service.search(config.base_dn, query, attributes=[attribute], size_limit=2)
            entries = [e for e in service.response or () if e.get("type") == "searchResEntry"]
        except LDAPException as exc:
            raise DirectoryUnavailable(f"the directory search failed: {exc}", str(exc)) from exc
        finally:
            service.unbind()
        if len(entries) != 1:  # none, or ambiguous: no login
            return None
        entry = entries[0]
        user = ldap3.Connection(
            server,
            user=entry["dn"],
            password=password,
            receive_timeout=self._receive_timeout_s,
            read_only=True,
            raise_exceptions=False,
        )
        try:
            bound = user.bind()
        except LDAPException as exc:
            raise DirectoryUnavailable(f"the directory bind failed: {exc}", str(exc)) from exc
        finally:
            user.unbind()
        if not bound:
            return None
        return _first(entry.get("attributes", {}).get(attribute)) or name

    def _user_names(self, config: DirectoryConfig) -> list[str]:
        from ldap3.core.exceptions import LDAPException

        service = self._service(self._server(config), config)
        attribute = config.user_attribute
        try:
            service.search(
                config.base_dn,
                config.user_filter,
                attributes=[attribute],
                size_limit=MAX_DIRECTORY_USERS,
            )
            entries = [e for e in service.response or () if e.get("type") == "searchResEntry"]
        except LDAPException as exc:
            raise DirectoryUnavailable(f"the directory search failed: {exc}", str(exc)) from exc
        finally:
            service.unbind()
        names = {_first(entry.get("attributes", {}).get(attribute)) for entry in entries}
        return sorted(name for name in names if name)


def _first(value: object) -> str:
    if isinstance(value, list | tuple):
        return str(value[0]) if value else ""
    return str(value) if value else ""
