"""How much of the machine's CPU went to other processes during a measuring window.

Linux only: /proc/stat gives the whole machine's busy time, /proc/PID/stat the
time of the processes we started (children they reaped included). What is
left is someone else's: another test run, a build, a noisy neighbour (steal).
Softirq time is left out of both sides: loopback TCP is charged there, and it
is ours.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
OTHER_CPU_LIMIT = 0.20  # above this share of the machine a run is measured again


def _machine_ticks() -> tuple[int, int]:
    """(busy without softirq, all) ticks summed over every core since boot."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq = fields[:7]
    steal = fields[7] if len(fields) > 7 else 0
    busy = user + nice + system + irq + steal
    return busy, sum(fields[:8])


def process_ticks(pid: int) -> int:
    """utime + stime + cutime + cstime of one process; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            text = stat.read()
    except OSError:
        return 0
    fields = text.rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15])


def descendants(pids: Iterable[int]) -> set[int]:
    """The live children, grandchildren, ... of `pids` (a dispatcher's hook host)."""
    found: set[int] = set()
    todo = list(pids)
    while todo:
        pid = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/children") as children:
                    for child in children.read().split():
                        if int(child) not in found:
                            found.add(int(child))
                            todo.append(int(child))
            except OSError:
                continue
    return found


@dataclass
class CpuWindow:
    """A measuring window: call `stop()` at its end, then read the shares."""

    pids: set[int] = field(default_factory=set)
    started: float = 0.0
    machine_busy: int = 0
    process: dict[int, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    ours_share: float = 0.0
    other_share: float = 0.0
    busy_share: float = 0.0

    @classmethod
    def start(cls, pids: Iterable[int] = ()) -> CpuWindow:
        window = cls(pids={os.getpid(), *pids})
        window.pids |= descendants(window.pids)
        window.started = time.perf_counter()
        window.machine_busy = _machine_ticks()[0]
        window.process = {pid: process_ticks(pid) for pid in window.pids}
        return window

    def track(self, pids: Iterable[int]) -> None:
        """Count processes started after the window opened (from their first tick)."""
        for pid in pids:
            self.pids.add(pid)
            self.process.setdefault(pid, 0)

    def stop(self) -> CpuWindow:
        # Children started during the window (a hook host starts with its first hook)
        # are ours from their first tick; their own children are counted when reaped.
        self.track(descendants(self.pids) - self.pids)
        self.elapsed_s = time.perf_counter() - self.started
        busy = _machine_ticks()[0] - self.machine_busy
        ours = sum(max(0, process_ticks(pid) - begun) for pid, begun in self.process.items())
        capacity = self.elapsed_s * TICKS_PER_S * (os.cpu_count() or 1)
        if capacity > 0:
            self.busy_share = busy / capacity
            self.ours_share = ours / capacity
            self.other_share = max(0.0, busy - ours) / capacity
        return self

    def report(self) -> dict[str, float]:
        return {
            "elapsed_s": round(self.elapsed_s, 3),
            "machine_busy_pct": round(100 * self.busy_share, 1),
            "ours_pct": round(100 * self.ours_share, 1),
            "other_pct": round(100 * self.other_share, 1),
        }
