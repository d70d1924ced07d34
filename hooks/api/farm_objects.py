"""Muster's farm objects for MDispatcherAPI: MNode, MPool, MRepository, MUser, MGroup,
MDispatcherConfiguration and MLDAPConfiguration.

Each wraps a plain dict (its wire form between the hook host and the
dispatcher); the getters and setters change a local copy, and an API call
such as `poolConfigure(pool)` sends it back. `to_dict()` gives the form.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "MDispatcherConfiguration",
    "MGroup",
    "MLDAPConfiguration",
    "MNode",
    "MPool",
    "MRepository",
    "MUser",
]


def _split(text: str | Iterable[str]) -> list[str]:
    parts = text.split(",") if isinstance(text, str) else [str(part) for part in text]
    return [part.strip() for part in parts if part.strip()]


class _Record:
    """A dict-backed object; subclasses list their defaults."""

    _DEFAULTS: dict[str, Any] = {}

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._data: dict[str, Any] = copy.deepcopy(self._DEFAULTS)
        if data is not None:
            self._data.update(copy.deepcopy(dict(data)))

    def _get(self, key: str) -> Any:
        return self._data.get(key, self._DEFAULTS.get(key))

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self._data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Any:
        return cls(data)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._data.get('name', '')!r})"


class MNode(_Record):
    """A render node (one render-client instance) as the dispatcher knows it."""

    # Node status codes (GUESS values; Corral's own).
    kNodeStatusOffline = 0
    kNodeStatusIdle = 1
    kNodeStatusBusy = 2
    kNodeStatusPaused = 3
    _STATUS_CODES = {"offline": 0, "idle": 1, "busy": 2, "paused": 3}

    _DEFAULTS = {
        "id": -1, "name": "", "host_name": "", "instance": 0, "host": "", "online": False,
        "paused": False, "pools": [], "notes": "", "platform": "", "address": "",
        "running": [], "excluded_jobs": [], "excluded_templates": [], "status": "offline",
    }  # fmt: skip

    def getID(self) -> int:
        return int(self._get("id"))

    def getName(self) -> str:
        """The node's name: the host name, with `#instance` for instances after the first."""
        return str(self._get("name"))

    def getHostName(self) -> str:
        return str(self._get("host_name"))

    def getInstance(self) -> int:
        return int(self._get("instance"))

    def getHost(self) -> str:
        return str(self._get("host"))

    def getIPAddress(self) -> str:
        """The address its session comes from ("127.0.0.1:51234")."""
        return str(self._get("address"))

    def getPlatform(self) -> str:
        return str(self._get("platform"))

    def getPools(self) -> str:
        return ",".join(self._get("pools"))

    def getNotes(self) -> str:
        return str(self._get("notes"))

    def setNotes(self, notes: str) -> None:
        """Changes this copy only; `nodeSetNotes(id, notes)` changes the node."""
        self._data["notes"] = str(notes)

    def isOnline(self) -> bool:
        return bool(self._get("online"))

    def isPaused(self) -> bool:
        return bool(self._get("paused"))

    def getStatus(self) -> int:
        """One of the kNodeStatus constants."""
        return self._STATUS_CODES.get(str(self._get("status")), self.kNodeStatusOffline)

    def getStatusName(self) -> str:
        """ "offline", "idle", "busy" or "paused"."""
        return str(self._get("status"))

    def getRunningJobs(self) -> list[int]:
        return sorted({int(run["job"]) for run in self._get("running")})

    def getRunningChunks(self) -> list[tuple[int, int]]:
        """(job id, chunk id) of every chunk the node runs now."""
        return [(int(run["job"]), int(run["chunk"])) for run in self._get("running")]

    def getExcludedJobs(self) -> list[int]:
        return [int(job) for job in self._get("excluded_jobs")]

    def getExcludedTemplates(self) -> list[str]:
        return [str(key) for key in self._get("excluded_templates")]


class _Named(_Record):
    """A record known by its name (a plain string builds one)."""

    def __init__(self, data: Mapping[str, Any] | str | None = None) -> None:
        super().__init__({"name": data} if isinstance(data, str) else data)

    def getName(self) -> str:
        return str(self._get("name"))

    def setName(self, name: str) -> None:
        self._data["name"] = str(name)


class _Described(_Named):
    """A named record with a free-text description."""

    def getDescription(self) -> str:
        return str(self._get("description"))

    def setDescription(self, description: str) -> None:
        self._data["description"] = str(description)


class MPool(_Described):
    """A named set of nodes. Jobs name pools to run only on their nodes."""

    _DEFAULTS = {"name": "", "description": "", "nodes": []}

    def getNodes(self) -> str:
        """The member nodes' names, comma-separated."""
        return ",".join(self._get("nodes"))

    def getNodesList(self) -> list[str]:
        return list(self._get("nodes"))

    def setNodes(self, nodes: str | Iterable[str]) -> None:
        self._data["nodes"] = sorted(set(_split(nodes)))

    def addNode(self, name: str) -> None:
        self.setNodes([*self._get("nodes"), str(name)])

    def removeNode(self, name: str) -> None:
        self._data["nodes"] = [node for node in self._get("nodes") if node != name]


class MRepository(_Described):
    """A storage root with its path on each platform, for path substitution."""

    _DEFAULTS = {"name": "", "description": "", "windows": "", "mac": "", "linux": ""}
    _PLATFORMS = {0: "windows", 1: "mac", 2: "linux"}  # MTemplateAPI.kPlatform* values

    def getWindowsPath(self) -> str:
        return str(self._get("windows"))

    def setWindowsPath(self, path: str) -> None:
        self._data["windows"] = str(path)

    def getMacPath(self) -> str:
        return str(self._get("mac"))

    def setMacPath(self, path: str) -> None:
        self._data["mac"] = str(path)

    def getLinuxPath(self) -> str:
        return str(self._get("linux"))

    def setLinuxPath(self, path: str) -> None:
        self._data["linux"] = str(path)

    def getPath(self, platform: int) -> str:
        """The root on an MTemplateAPI.kPlatform* platform."""
        return str(self._get(self._PLATFORMS.get(int(platform), "linux")))

    def setPath(self, platform: int, path: str) -> None:
        if int(platform) not in self._PLATFORMS:
            raise ValueError(f"unknown platform {platform!r}")
        self._data[self._PLATFORMS[int(platform)]] = str(path)


class _Account(_Named):
    """What users and groups share besides a name: permissions."""

    def getPermissions(self) -> str:
        """Comma-separated: submit, manage_own, manage_all, manage_nodes, administer."""
        return ",".join(self._get("permissions"))

    def setPermissions(self, permissions: str | Iterable[str]) -> None:
        self._data["permissions"] = _split(permissions)


class MUser(_Account):
    """An account. The password is write-only: it travels once and is stored hashed."""

    _DEFAULTS = {"name": "", "email": "", "groups": [], "permissions": ["submit", "manage_own"],
                 "password": "", "ldap": False}  # fmt: skip

    def getEmail(self) -> str:
        return str(self._get("email"))

    def setEmail(self, email: str) -> None:
        self._data["email"] = str(email)

    def getGroups(self) -> str:
        return ",".join(self._get("groups"))

    def setGroups(self, groups: str | Iterable[str]) -> None:
        self._data["groups"] = _split(groups)

    def hasPermission(self, permission: str) -> bool:
        held = set(self._get("permissions"))
        return "administer" in held or permission in held

    def setPassword(self, password: str) -> None:
        self._data["password"] = str(password)

    def isLDAPUser(self) -> bool:
        return bool(self._get("ldap"))


class MGroup(_Account, _Described):
    """A group of users with the permissions its members share."""

    _DEFAULTS = {"name": "", "description": "", "permissions": [], "users": []}

    def getUsers(self) -> str:
        """The members' names, comma-separated."""
        return ",".join(self._get("users"))

    def setUsers(self, users: str | Iterable[str]) -> None:
        """The members; `groupConfigure` makes exactly these users members."""
        self._data["users"] = sorted(set(_split(users)))


class MDispatcherConfiguration(_Record):
    """The dispatcher's settings by name (as `corral dispatcher --help` lists them).

    `getValue(name)` / `setValue(name, value)` reach every setting; the named
    getters and setters cover the ones scripts change most. Settings that
    cannot change while the dispatcher runs (ports, folders) are read-only:
    `systemSetConfiguration` refuses a change to them.
    """

    _DEFAULTS = {"values": {}, "live": []}

    def getValue(self, name: str) -> Any:
        return self._get("values").get(name)

    def setValue(self, name: str, value: Any) -> None:
        self._data.setdefault("values", {})[str(name)] = value

    def getKeys(self) -> list[str]:
        return sorted(self._get("values"))

    def isChangeable(self, name: str) -> bool:
        return name in self._get("live")

    def getHookTimeout(self) -> float:
        return float(self.getValue("hook_timeout_s"))

    def setHookTimeout(self, seconds: float) -> None:
        self.setValue("hook_timeout_s", float(seconds))

    def getChunkHoldRecheck(self) -> float:
        return float(self.getValue("chunk_hold_recheck_s"))

    def setChunkHoldRecheck(self, seconds: float) -> None:
        self.setValue("chunk_hold_recheck_s", float(seconds))

    def getIdleHookInterval(self) -> float:
        return float(self.getValue("idle_hook_interval_s"))

    def setIdleHookInterval(self, seconds: float) -> None:
        self.setValue("idle_hook_interval_s", float(seconds))

    def getExcludeAfterFailures(self) -> int:
        return int(self.getValue("exclude_after_failures"))

    def setExcludeAfterFailures(self, count: int) -> None:
        self.setValue("exclude_after_failures", int(count))

    def getHeartbeatInterval(self) -> float:
        return float(self.getValue("heartbeat_interval_s"))

    def setHeartbeatInterval(self, seconds: float) -> None:
        self.setValue("heartbeat_interval_s", float(seconds))


class MLDAPConfiguration(_Record):
    """Where the dispatcher finds directory users (stored; see docs/hooks.md)."""

    _DEFAULTS = {
        "enabled": False, "server": "", "port": 389, "use_ssl": False, "base_dn": "",
        "bind_user": "", "bind_password": "", "user_filter": "(objectClass=person)",
        "group_filter": "(objectClass=group)", "directory": "", "user_attribute": "uid",
    }  # fmt: skip

    def getEnabled(self) -> bool:
        return bool(self._get("enabled"))

    def setEnabled(self, enabled: bool | int) -> None:
        self._data["enabled"] = bool(enabled)

    def getServer(self) -> str:
        return str(self._get("server"))

    def setServer(self, server: str) -> None:
        self._data["server"] = str(server)

    def getPort(self) -> int:
        return int(self._get("port"))

    def setPort(self, port: int) -> None:
        self._data["port"] = int(port)

    def getUseSSL(self) -> bool:
        return bool(self._get("use_ssl"))

    def setUseSSL(self, use_ssl: bool | int) -> None:
        self._data["use_ssl"] = bool(use_ssl)

    def getBaseDN(self) -> str:
        return str(self._get("base_dn"))

    def setBaseDN(self, base_dn: str) -> None:
        self._data["base_dn"] = str(base_dn)

    def getBindUser(self) -> str:
        return str(self._get("bind_user"))

    def setBindUser(self, user: str) -> None:
        self._data["bind_user"] = str(user)

    def setBindPassword(self, password: str) -> None:
        self._data["bind_password"] = str(password)

    def getUserFilter(self) -> str:
        return str(self._get("user_filter"))

    def setUserFilter(self, text: str) -> None:
        self._data["user_filter"] = str(text)

    def getGroupFilter(self) -> str:
        return str(self._get("group_filter"))

    def setGroupFilter(self, text: str) -> None:
        self._data["group_filter"] = str(text)

    def getDirectory(self) -> str:
        """The directory's name, shown as @directory@ before its users' names."""
        return str(self._get("directory"))

    def setDirectory(self, name: str) -> None:
        self._data["directory"] = str(name)

    def getUserAttribute(self) -> str:
        """The attribute that holds a user's login name (uid; sAMAccountName in Active Directory)."""
        return str(self._get("user_attribute"))

    def setUserAttribute(self, name: str) -> None:
        self._data["user_attribute"] = str(name)
