"""Process trees of renders, read from Linux's /proc: who belongs to a render,
what it uses, and how to renice or signal all of it.

A render's tree is its leader, everything descended from the leader, and
every process still in the leader's process group (a child whose parent died
is re-parented to init but keeps its group). Where /proc does not exist the
functions return empty answers rather than fail.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

PROC = Path("/proc")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
NICE_MIN, NICE_MAX = -20, 19
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class ProcInfo:
    """One process as /proc/PID/stat shows it. CPU time is in seconds, memory in bytes."""

    pid: int
    ppid: int
    pgid: int
    cpu_s: float
    nice: int
    rss_bytes: int
    state: str = "R"

    @property
    def exited(self) -> bool:
        """A zombie (or dead) process: it has ended and waits to be reaped."""
        return self.state in ("Z", "X", "x")


def parse_stat(text: str) -> ProcInfo | None:
    """Parse the text of /proc/PID/stat; None when it is not one."""
    # The command name is in parentheses and may itself hold spaces or ')'.
    head, sep, rest = text.rpartition(")")
    if not sep:
        return None
    fields = rest.split()
    try:
        pid = int(head.split("(", 1)[0])
        # fields[0] is field 3 (state) of proc(5); count from there.
        ppid, pgid = int(fields[1]), int(fields[2])
        ticks = int(fields[11]) + int(fields[12])
        nice = int(fields[16])
        rss_pages = int(fields[21])
    except (ValueError, IndexError):
        return None
    return ProcInfo(
        pid, ppid, pgid, ticks / CLOCK_TICKS, nice, max(0, rss_pages) * PAGE_BYTES, fields[0]
    )


def read_proc(pid: int, proc: Path = PROC) -> ProcInfo | None:
    try:
        return parse_stat((proc / str(pid) / "stat").read_text())
    except OSError:
        return None


def all_processes(proc: Path = PROC) -> dict[int, ProcInfo]:
    """Every live (not yet ended) process readable under `proc`, by pid."""
    found: dict[int, ProcInfo] = {}
    try:
        entries = list(proc.iterdir())
    except OSError:
        return found
    for entry in entries:
        if entry.name.isdigit():
            info = read_proc(int(entry.name), proc)
            if info is not None and not info.exited:
                found[info.pid] = info
    return found


def tree(
    leader: int, processes: dict[int, ProcInfo] | None = None, proc: Path = PROC
) -> list[ProcInfo]:
    """The leader's process tree: descendants plus its process group, leader first."""
    table = all_processes(proc) if processes is None else processes
    if leader not in table and not any(info.pgid == leader for info in table.values()):
        return []
    children: dict[int, list[int]] = {}
    for info in table.values():
        children.setdefault(info.ppid, []).append(info.pid)
    members: list[int] = []
    seen: set[int] = set()
    pending = [leader]
    while pending:
        pid = pending.pop()
        if pid in seen:
            continue
        seen.add(pid)
        if pid in table:
            members.append(pid)
        pending.extend(children.get(pid, ()))
    for info in table.values():
        if info.pgid == leader and info.pid not in seen:
            seen.add(info.pid)
            members.append(info.pid)
    return [table[pid] for pid in members]


def renice(pids: list[int], nice: int) -> list[int]:
    """Set the nice value of each process; returns the pids it was set on."""
    if not NICE_MIN <= nice <= NICE_MAX:
        raise ValueError(f"nice value {nice} is outside {NICE_MIN}..{NICE_MAX}")
    done: list[int] = []
    for pid in pids:
        try:
            os.setpriority(os.PRIO_PROCESS, pid, nice)
        except ProcessLookupError:
            continue
        except PermissionError:
            logger.warning("action=renice_refused pid=%d nice=%d", pid, nice)
            continue
        done.append(pid)
    return done


def signal_tree(leader: int, signum: int) -> int:
    """Send `signum` to the leader's whole tree; returns how many processes got it."""
    sent = 0
    for info in tree(leader):
        try:
            os.kill(info.pid, signum)
        except (ProcessLookupError, PermissionError):
            continue
        sent += 1
    return sent


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


# Loaded once here, not in the forked child (where as little as possible should run).
_LIBC = _libc() if os.name == "posix" else None


def die_with_parent() -> None:
    """In a freshly forked child: ask Linux to SIGKILL it when its parent dies.

    A render whose render client was killed would otherwise go on, unseen,
    while the dispatcher gives its chunk to another node.
    """
    if _LIBC is not None:
        with contextlib.suppress(AttributeError):
            _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
