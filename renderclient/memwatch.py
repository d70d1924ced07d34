"""Holds a running attempt to its job's memory thresholds (PyFarm's `ram_warning` and
`ram_max`, in MB, sent with the assignment).

About once a second the attempt's memory is measured: the working set of the
instance's memory cgroup when renders run in one (the instance runs one render at
a time, so the cgroup holds this attempt alone), else the resident memory summed
over the render's process tree (its leader, the leader's descendants and process
group) as /proc shows it. Measuring walks /proc, so it runs in a worker thread,
never on the event loop.

Past `ram_warning` one warning line goes into the chunk's log (once per attempt);
past `ram_max` the render is ended and the attempt fails with the reason: an
ordinary failure, retried as the job's `requeue` allows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from dispatcher.protocol import Assign, Result
from renderclient import processes
from renderclient.cgroups import MemoryCgroup
from renderclient.runner import ChunkRun

logger = logging.getLogger(__name__)

MB = 1024 * 1024
SAMPLE_INTERVAL_S = 1.0
MAX_FAILED_SAMPLES = 5
"""Measurements that raise in a row before the watch gives up and ends the render:
a threshold that can no longer be checked must not pass silently."""


def tree_rss_bytes(leader: int) -> int | None:
    """Resident memory of the leader's process tree, in bytes; None when it has gone."""
    members = processes.tree(leader)
    if not members:
        return None
    return sum(info.rss_bytes for info in members)


@dataclass(slots=True)
class MemoryCounts:
    """What the watches of one render-client instance have done so far."""

    warnings: int = 0
    kills: int = 0


class MemoryWatch:
    """Measures one attempt's memory against `warning_mb` and `max_mb` (either may be None).

    `follow(pid)` names the leader of the command now running (a chunk may run
    several commands one after another); `run()` samples until cancelled or until
    the attempt went over `max_mb`, when `on_over(reason)` is called once and
    `over` holds the reason (`run_watched` sets `on_over` to end the attempt when
    none was given). `write_log(data)` puts a line into the chunk's log.
    """

    def __init__(
        self,
        *,
        warning_mb: int | None,
        max_mb: int | None,
        write_log: Callable[[bytes], None],
        on_over: Callable[[str], None] | None = None,
        cgroup: MemoryCgroup | None = None,
        counts: MemoryCounts | None = None,
        label: str = "",
        interval_s: float = SAMPLE_INTERVAL_S,
    ) -> None:
        self.warning_mb = warning_mb
        self.max_mb = max_mb
        self._write_log = write_log
        self.on_over = on_over
        self._cgroup = cgroup
        self.counts = counts if counts is not None else MemoryCounts()
        self._label = label
        self._interval_s = interval_s
        self._leader: int | None = None
        self.warned = False
        self.over = ""
        self.peak_bytes = 0

    @classmethod
    def of(
        cls,
        assign: Assign,
        *,
        write_log: Callable[[bytes], None],
        on_over: Callable[[str], None] | None = None,
        cgroup: MemoryCgroup | None = None,
        counts: MemoryCounts | None = None,
        label: str = "",
    ) -> MemoryWatch | None:
        """The watch an assignment asks for; None when its job sets no threshold."""
        if assign.ram_warning_mb is None and assign.ram_max_mb is None:
            return None
        return cls(
            warning_mb=assign.ram_warning_mb,
            max_mb=assign.ram_max_mb,
            write_log=write_log,
            on_over=on_over,
            cgroup=cgroup,
            counts=counts,
            label=label,
        )

    def follow(self, pid: int) -> None:
        self._leader = pid

    def measure(self) -> int | None:
        """The attempt's memory now, in bytes (None: nothing to measure). Blocking."""
        if self._cgroup is not None:
            used = self._cgroup.working_set_bytes()
            if used is not None:
                return used
        leader = self._leader
        return None if leader is None else tree_rss_bytes(leader)

    def check(self, used_bytes: int) -> None:
        """Judge one measurement: warn once past `warning_mb`, end the render past `max_mb`."""
        self.peak_bytes = max(self.peak_bytes, used_bytes)
        used_mb = used_bytes // MB
        if self.over:
            return
        if self.max_mb is not None and used_bytes > self.max_mb * MB:
            self.over = f"used {used_mb} MB, over the job's ram_max of {self.max_mb} MB"
            self.counts.kills += 1
            logger.warning(
                "action=ram_max_exceeded %s used_mb=%d ram_max_mb=%d kills=%d",
                self._label, used_mb, self.max_mb, self.counts.kills,
            )  # fmt: skip
            self._end()
            return
        if not self.warned and self.warning_mb is not None and used_bytes > self.warning_mb * MB:
            self.warned = True
            self.counts.warnings += 1
            logger.warning(
                "action=ram_warning %s used_mb=%d ram_warning_mb=%d warnings=%d",
                self._label, used_mb, self.warning_mb, self.counts.warnings,
            )  # fmt: skip
            self._log(
                f"[corral] memory warning: the render uses {used_mb} MB, over the job's "
                f"ram_warning of {self.warning_mb} MB\n"
            )

    def _end(self) -> None:
        self._log(f"[corral] memory: {self.over}; the render is ended\n")
        if self.on_over is not None:
            self.on_over(self.over)

    def _log(self, text: str) -> None:
        try:
            self._write_log(text.encode())
        except Exception:
            logger.exception("action=log_forward_failed %s", self._label)

    async def run(self) -> None:
        """Sample every `interval_s` until cancelled or over `max_mb`."""
        failed = 0
        while not self.over:
            try:
                used = await asyncio.to_thread(self.measure)
            except Exception as exc:
                failed += 1
                logger.exception("action=ram_measure_failed %s failed=%d", self._label, failed)
                if failed >= MAX_FAILED_SAMPLES:
                    self.over = f"the render's memory could not be measured: {exc!r}"
                    self._end()
                    return
            else:
                failed = 0
                if used is not None:
                    self.check(used)
            if not self.over:
                await asyncio.sleep(self._interval_s)


async def run_watched(run: ChunkRun, watch: MemoryWatch | None) -> Result:
    """`run.run()` with `watch` measuring beside it; an attempt the watch ended is an
    ordinary failure (not `killed`: that is a stop from outside, which is no failure)."""
    if watch is None:
        return await run.run()
    if watch.on_over is None:
        watch.on_over = run.kill
    task = asyncio.create_task(watch.run(), name=f"corral-memwatch-{run.ref.job}-{run.ref.chunk}")
    try:
        result = await run.run()
    finally:
        task.cancel()
        (ended,) = await asyncio.gather(task, return_exceptions=True)
        if isinstance(ended, Exception):
            logger.error("action=memwatch_failed ref=%s error=%r", run.ref, ended)
    if watch.over and not result.ok:
        result = msgspec.structs.replace(result, killed=False, oom=False, error=watch.over)
    return result
