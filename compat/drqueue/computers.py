"""DrQueue's computer objects (its slaves) over Corral's render nodes."""

from typing import Any, Dict, List

from ._link import DrQueueError, NotSupported, call, check_who, epoch, failed

# hwinfo.os, as libdrqueue numbers operating systems.
OS_UNKNOWN = 0
OS_IRIX = 1
OS_LINUX = 2
OS_OSX = 3
OS_FREEBSD = 4
OS_CYGWIN = 5
OS_WINDOWS = 6
_OS = {"linux": OS_LINUX, "darwin": OS_OSX, "mac": OS_OSX, "macos": OS_OSX,
       "windows": OS_WINDOWS, "win32": OS_WINDOWS, "freebsd": OS_FREEBSD}  # fmt: skip
_OS_NAMES = {OS_UNKNOWN: "Unknown", OS_IRIX: "Irix", OS_LINUX: "Linux", OS_OSX: "OSX",
             OS_FREEBSD: "FreeBSD", OS_CYGWIN: "Cygwin", OS_WINDOWS: "Windows"}  # fmt: skip


def osstring(os_code: int) -> str:
    """The name of an ``hwinfo.os`` value (``"Linux"``)."""
    return _OS_NAMES.get(os_code, "Unknown")


class computer_hwinfo:  # noqa: N801 (libdrqueue's name)
    """What a computer is: ``id`` (the node's id), ``name`` (``host`` or ``host#N`` for
    another instance), ``os`` (OS_*), ``ncpus``, ``memory`` (MB, 0 when unknown),
    ``address``, ``platform``. Corral does not know ``arch``, ``proctype``,
    ``procspeed``, ``speedindex``, ``nnbits`` or ``byteorder``: they read 0 (unknown)."""

    __slots__ = ("id", "name", "os", "ncpus", "memory", "address", "platform", "arch",
                 "proctype", "procspeed", "speedindex", "nnbits", "byteorder")  # fmt: skip

    def __init__(self) -> None:
        self.arch = self.proctype = self.procspeed = 0
        self.speedindex = self.nnbits = self.byteorder = 0
        self.id = -1
        self.name = ""
        self.os = OS_UNKNOWN
        self.ncpus = 0
        self.memory = 0
        self.address = ""
        self.platform = ""


class computer_limits:  # noqa: N801 (libdrqueue's name)
    """What a computer may do: ``enabled`` (1: takes work, 0: paused), ``nmaxcpus`` (the
    CPUs it reports; Corral has no per-node limit to set), ``pools`` (names)."""

    __slots__ = ("enabled", "nmaxcpus", "pools")

    def __init__(self) -> None:
        self.enabled = 0
        self.nmaxcpus = 0
        self.pools = []  # type: List[str]


class computer_status:  # noqa: N801 (libdrqueue's name)
    """What a computer does: ``online`` (1 or 0), ``ntasks`` and ``nrunning`` (tasks
    running), ``loadavg`` (1-minute load, as a list of three, the last two 0 when
    unknown), ``last_seen`` (seconds since 1970)."""

    __slots__ = ("online", "ntasks", "nrunning", "loadavg", "last_seen")

    def __init__(self) -> None:
        self.online = 0
        self.ntasks = 0
        self.nrunning = 0
        self.loadavg = [0, 0, 0]
        self.last_seen = 0


class computer:  # noqa: N801 (libdrqueue's name)
    """A render node of the master, as ``request_computer_list`` gives them."""

    __slots__ = ("hwinfo", "limits", "status")

    def __init__(self) -> None:
        self.hwinfo = computer_hwinfo()
        self.limits = computer_limits()
        self.status = computer_status()

    def __repr__(self) -> str:
        return "<drqueue.computer id=%d name=%r enabled=%d>" % (
            self.hwinfo.id, self.hwinfo.name, self.limits.enabled
        )  # fmt: skip

    def update(self, who: int) -> int:
        """Read the computer's state from the master again; 1 on success, else 0."""
        check_who(who)
        try:
            self._load(call("GET", "/nodes/%d" % self._node_id()))
        except DrQueueError as exc:
            return failed("computer %s: update" % self.hwinfo.name, exc)
        return 1

    def request_enable(self, who: int) -> int:
        """Let the computer take work; 1 on success, else 0 (needs manage-nodes)."""
        return self._action(who, "enable", "resume")

    def request_disable(self, who: int) -> int:
        """Stop giving the computer work (what it runs finishes); 1 or 0."""
        return self._action(who, "disable", "pause")

    def _action(self, who: int, what: str, action: str) -> int:
        check_who(who)
        try:
            answer = call("POST", "/nodes/%d/actions/%s" % (self._node_id(), action))
        except DrQueueError as exc:
            return failed("computer %s: %s" % (self.hwinfo.name, what), exc)
        if isinstance(answer, dict) and isinstance(answer.get("node"), dict):
            self._load(answer["node"])
        return 1

    def _node_id(self) -> int:
        if self.hwinfo.id < 1:
            raise DrQueueError("the computer has no id: take it from request_computer_list()")
        return int(self.hwinfo.id)

    def _load(self, view: Dict[str, Any]) -> None:
        hwinfo, limits, status = self.hwinfo, self.limits, self.status
        resources = view.get("resources") or {}
        hwinfo.id = int(view["id"])
        hwinfo.name = str(view.get("name", ""))
        hwinfo.platform = str(view.get("platform") or "")
        hwinfo.os = _OS.get(hwinfo.platform.lower(), OS_UNKNOWN)
        hwinfo.ncpus = int(view.get("cpus") or resources.get("cpus") or 0)
        total = resources.get("memory_total_bytes")
        hwinfo.memory = int(total) // (1024 * 1024) if isinstance(total, int) else 0
        hwinfo.address = str(view.get("address") or "")
        limits.enabled = 0 if view.get("paused") else 1
        limits.nmaxcpus = hwinfo.ncpus
        limits.pools = list(view.get("pools") or [])
        running = view.get("running") or []
        status.online = 1 if view.get("online") else 0
        status.ntasks = status.nrunning = len(running)
        load = resources.get("load_1m")
        status.loadavg = [load if isinstance(load, (int, float)) else 0, 0, 0]
        status.last_seen = epoch(view.get("last_seen"))


def request_computer_list(who: int) -> List[computer]:
    """Every render node of the master, as ``computer`` objects; raises DrQueueError."""
    check_who(who)
    found = []
    for view in call("GET", "/nodes/"):
        item = computer()
        item._load(view)
        found.append(item)
    return found


def request_slave_limits_nmaxcpus_set(slave: str, nmaxcpus: int, who: int) -> int:
    """Set how many CPUs slave ``slave`` may use: not supported, returns 0 with the reason.

    A Corral render node runs one task at a time; how many run at once on a host is its
    number of render client instances (``corral renderclient --instances N``), which the
    master cannot change. The slave and the number are checked first.
    """
    check_who(who)
    try:
        if isinstance(nmaxcpus, bool) or not isinstance(nmaxcpus, int) or nmaxcpus < 0:
            raise DrQueueError("nmaxcpus must be a whole number of 0 or more, not %r" % (nmaxcpus,))
        _find(slave)
        raise NotSupported(
            "a render node runs one task at a time; run more or fewer render client "
            "instances on the host (corral renderclient --instances N) instead"
        )
    except DrQueueError as exc:
        return failed("request_slave_limits_nmaxcpus_set(%r)" % (slave,), exc)


def request_slave_limits_enabled_set(slave: str, enabled: int, who: int) -> int:
    """Enable (1) or disable (0) slave ``slave`` by name; 1 on success, else 0."""
    check_who(who)
    try:
        if enabled not in (0, 1):
            raise DrQueueError("enabled must be 0 or 1, not %r" % (enabled,))
        found = _find(slave)
    except DrQueueError as exc:
        return failed("request_slave_limits_enabled_set(%r)" % (slave,), exc)
    return found.request_enable(who) if enabled else found.request_disable(who)


def _find(name: Any) -> computer:
    if not isinstance(name, str) or not name.strip():
        raise DrQueueError("a slave is named by its host name, not %r" % (name,))
    for item in request_computer_list(0):
        if item.hwinfo.name == name:
            return item
    raise DrQueueError("no slave named %r" % name, 404)
