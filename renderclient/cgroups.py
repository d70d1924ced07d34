"""Memory cgroups for renders (Linux): a limit per render-client instance, and
the out-of-memory kill counters that tell an OOM kill from any other SIGKILL.

Both cgroup v1 (a `memory` hierarchy) and v2 (the unified hierarchy with the
memory controller) are handled. An instance's cgroup is created under the
render client's own cgroup; where that is not allowed (no permission, no
memory controller, v2's rule against processes in inner cgroups) `create`
raises CgroupError and the caller runs renders without a limit.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

MOUNTINFO = Path("/proc/self/mountinfo")
SELF_CGROUP = Path("/proc/self/cgroup")
VMSTAT = Path("/proc/vmstat")


class CgroupError(Exception):
    """A memory cgroup could not be found, created or used."""


@dataclass(frozen=True, slots=True)
class MemoryHierarchy:
    """Where the memory controller is mounted and which cgroup this process is in."""

    mount: Path
    version: int
    own: str

    @property
    def own_path(self) -> Path:
        return self.mount / self.own.lstrip("/")


def find_memory_hierarchy(
    mountinfo: str | None = None, self_cgroup: str | None = None
) -> MemoryHierarchy | None:
    """The memory controller's mount and our cgroup in it, or None where there is none."""
    try:
        mounts = MOUNTINFO.read_text() if mountinfo is None else mountinfo
        groups = SELF_CGROUP.read_text() if self_cgroup is None else self_cgroup
    except OSError:
        return None
    v1: tuple[Path, str] | None = None
    v2: tuple[Path, str] | None = None
    for line in mounts.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        kind, options = tail[0], tail[2].split(",")
        # fields[3] is the mount's root inside the hierarchy, fields[4] where it is mounted.
        if kind == "cgroup" and "memory" in options:
            v1 = (Path(fields[4]), fields[3])
        elif kind == "cgroup2" and v2 is None:
            v2 = (Path(fields[4]), fields[3])
    own_v1 = own_v2 = None
    for line in groups.splitlines():
        number, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if number == "0" and controllers == "":
            own_v2 = path
        elif "memory" in controllers.split(","):
            own_v1 = path
    if v1 is not None and own_v1 is not None:
        return MemoryHierarchy(v1[0], 1, _below(own_v1, v1[1]))
    if v2 is not None and own_v2 is not None:
        hierarchy = MemoryHierarchy(v2[0], 2, _below(own_v2, v2[1]))
        try:
            controllers_text = (hierarchy.own_path / "cgroup.controllers").read_text()
        except OSError:
            return None
        if "memory" in controllers_text.split():
            return hierarchy
    return None


def _below(path: str, root: str) -> str:
    """A cgroup path relative to a mount whose root is `root` (containers mount subtrees)."""
    if root not in ("", "/") and (path == root or path.startswith(root.rstrip("/") + "/")):
        return path[len(root.rstrip("/")) :] or "/"
    return path


def kernel_oom_kills(vmstat: Path = VMSTAT) -> int | None:
    """How many processes the kernel's OOM killer has killed since boot (None: unknown).

    Read twice per chunk: the counter's line is found in the raw bytes, not by
    splitting the whole file into lines."""
    try:
        data = b"\n" + vmstat.read_bytes()
        at = data.find(b"\noom_kill ")
        if at < 0:
            return None
        end = data.find(b"\n", at + 1)
        return int(data[at + len(b"\noom_kill ") : end if end >= 0 else None])
    except (OSError, ValueError):
        return None


class MemoryCgroup:
    """One instance's memory cgroup with a limit; renders are moved into it as they start."""

    def __init__(self, path: Path, version: int, limit_bytes: int) -> None:
        self.path = path
        self.version = version
        self.limit_bytes = limit_bytes

    @classmethod
    def create(cls, name: str, limit_bytes: int) -> MemoryCgroup:
        """Create (or reuse) cgroup `name` under ours with `limit_bytes`; raises CgroupError."""
        hierarchy = find_memory_hierarchy()
        if hierarchy is None:
            raise CgroupError("this system has no memory cgroup controller for us")
        path = hierarchy.own_path / name
        try:
            if hierarchy.version == 2:
                _write(hierarchy.own_path / "cgroup.subtree_control", "+memory")
            path.mkdir(exist_ok=True)
            group = cls(path, hierarchy.version, limit_bytes)
            if hierarchy.version == 1:
                _write(path / "memory.limit_in_bytes", str(limit_bytes))
                with contextlib.suppress(OSError):
                    _write(path / "memory.swappiness", "0")
            else:
                _write(path / "memory.max", str(limit_bytes))
                with contextlib.suppress(OSError):
                    _write(path / "memory.swap.max", "0")
        except OSError as exc:
            raise CgroupError(f"cannot set up memory cgroup {path}: {exc.strerror or exc}") from exc
        return group

    def join(self) -> None:
        """Move the calling process into this cgroup (used in a render's child before exec)."""
        with open(self.path / "cgroup.procs", "w") as procs:
            procs.write("0")

    def usage_bytes(self) -> int | None:
        name = "memory.usage_in_bytes" if self.version == 1 else "memory.current"
        try:
            return int((self.path / name).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def working_set_bytes(self) -> int | None:
        """What the cgroup's processes use: its usage less the inactive file cache (pages
        the kernel drops first, which a render writing big files would otherwise be
        charged for); the usage alone where the kernel does not say."""
        usage = self.usage_bytes()
        if usage is None:
            return None
        name = "total_inactive_file" if self.version == 1 else "inactive_file"
        try:
            for line in (self.path / "memory.stat").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == name:
                    return max(0, usage - int(value))
        except (OSError, ValueError):
            pass
        return usage

    def available_bytes(self) -> int | None:
        usage = self.usage_bytes()
        return None if usage is None else max(0, self.limit_bytes - usage)

    def oom_kills(self) -> int | None:
        """OOM kills inside this cgroup so far (None: the kernel does not say)."""
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        try:
            for line in (self.path / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return None

    def remove(self) -> None:
        """Remove the cgroup once it is empty; a leftover is logged, never fatal."""
        try:
            os.rmdir(self.path)
        except FileNotFoundError:
            return
        except OSError as exc:
            logger.warning("action=cgroup_remove_failed path=%s error=%s", self.path, exc.strerror)


def _write(path: Path, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)
