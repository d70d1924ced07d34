"""The event loop's lag, and where a stalled loop was stuck.

A task on the loop sleeps `interval_s` again and again and measures how late it
wakes: that is the lag every other callback waited too. A watchdog thread looks
at the last tick every few tens of milliseconds; when the loop has not ticked for
longer than `interval_s + stall_s`, it samples the loop thread's stack with
`sys._current_frames()` and logs one warning naming the innermost frames, while
the stall still goes on: the only moment the culprit can be seen.

This costs one timer callback per interval on the loop, unlike asyncio's debug
mode, which slows every callback.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from dispatcher.histogram import LoopHistogram
from dispatcher.tasks import cancel_all

log = logging.getLogger(__name__)

MAX_RESTARTS = 3
"""The measuring task is restarted this often after a failure, then stops loudly."""


class LoopLag:
    """Measures the running loop's lag. `await start()` on the loop, `await close()` (twice is safe).

    `stall_s`: the lag past which a stall is counted and the watchdog logs where the
    loop is stuck (default 0.1 s). `interval_s`: how often the loop is sampled.
    """

    def __init__(self, *, stall_s: float = 0.1, interval_s: float = 0.05, frames: int = 6) -> None:
        self.stall_s = stall_s
        self.interval_s = interval_s
        self.frames = frames
        self.lag_s = 0.0
        self.max_lag_s = 0.0
        self.stalls = 0
        self.warnings = 0
        self.restarts = 0
        self.histogram = LoopHistogram()  # every measured lag (the metrics)
        self._last_tick = time.monotonic()
        self._loop_thread: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # -- lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        if self._task is not None:
            return
        self._loop_thread = threading.get_ident()
        self._last_tick = time.monotonic()
        self._stop.clear()
        self._spawn()
        self._thread = threading.Thread(
            target=self._watch, name="corral-loop-watchdog", daemon=True
        )
        self._thread.start()
        log.debug("action=loop_lag_started stall_ms=%d", self.stall_s * 1000)

    def _spawn(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._ticks(), name="loop-lag")
        self._task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._task is not task:
            return
        self.restarts += 1
        if self.restarts > MAX_RESTARTS:
            self._task = None
            self._stop.set()
            log.error(
                "action=loop_lag_stopped error=%r; it died %d times, the loop lag is no "
                "longer measured",
                task.exception(),
                self.restarts,
            )
            return
        log.error("action=loop_lag_died error=%r; the lag monitor is restarted", task.exception())
        self._last_tick = time.monotonic()
        self._spawn()

    async def close(self) -> None:
        task, self._task = self._task, None
        self._stop.set()
        if task is not None:
            await cancel_all([task])
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.to_thread(thread.join, 2.0)

    # -- measuring -------------------------------------------------------------
    async def _ticks(self) -> None:
        interval = self.interval_s
        while True:
            expected = time.monotonic() + interval
            await asyncio.sleep(interval)
            self._record(time.monotonic(), expected)

    def _record(self, now: float, expected: float) -> None:
        lag = max(0.0, now - expected)
        self.lag_s = lag
        self.histogram.observe(lag)
        if lag > self.max_lag_s:
            self.max_lag_s = lag
        if lag > self.stall_s:
            self.stalls += 1
            log.info("action=loop_stall_ended lag_ms=%.0f", lag * 1000)
        self._last_tick = now

    def _watch(self) -> None:
        """The watchdog thread: one warning per stall, with the loop thread's stack."""
        poll_s = max(0.005, min(self.stall_s, self.interval_s) / 2)
        reported = self._last_tick
        while not self._stop.wait(poll_s):
            last = self._last_tick
            stalled_s = time.monotonic() - last - self.interval_s
            if stalled_s <= self.stall_s or last == reported:
                continue
            reported = last
            try:
                where = self.where()
            except Exception as exc:  # never let the watchdog die of a bad frame
                where = f"(stack not readable: {exc!r})"
            self.warnings += 1
            log.warning(
                "action=loop_stall stalled_ms=%.0f where=%s; nothing else runs on the "
                "dispatcher's loop until it returns",
                stalled_s * 1000,
                where,
            )

    def where(self) -> str:
        """The loop thread's innermost frames now: `file:line function <- ...`."""
        frame: FrameType | None = sys._current_frames().get(self._loop_thread or -1)
        if frame is None:
            return "(the loop thread is gone)"
        stack = traceback.extract_stack(frame)[-self.frames :]
        return " <- ".join(
            f"{_short(entry.filename)}:{entry.lineno} {entry.name}" for entry in reversed(stack)
        )

    def view(self) -> dict[str, Any]:
        """For /api/v1/status: the last lag, the largest since start, stalls counted."""
        return {
            "lag_ms": round(self.lag_s * 1000, 2),
            "max_lag_ms": round(self.max_lag_s * 1000, 2),
            "stalls": self.stalls,
            "stall_ms": round(self.stall_s * 1000, 2),
        }


def _short(filename: str) -> str:
    """A file named by its last two path parts (package/module.py)."""
    parts = Path(filename).parts
    return "/".join(parts[-2:])
