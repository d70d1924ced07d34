"""The loop-lag monitor on a loop this test stalls on purpose (time.sleep in a coroutine)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from dispatcher.looplag import LoopLag


def _hold_the_loop(seconds: float) -> None:
    time.sleep(seconds)  # the stall: nothing else runs on the loop meanwhile


async def test_a_stall_is_measured_and_the_warning_names_where_the_loop_was_stuck(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="dispatcher.looplag")
    monitor = LoopLag(stall_s=0.1, interval_s=0.02)
    await monitor.start()
    try:
        await asyncio.sleep(0.1)
        _hold_the_loop(0.5)
        await asyncio.sleep(0.1)  # a few ticks after the stall
        view = monitor.view()
    finally:
        await monitor.close()
    assert view["stalls"] >= 1
    assert view["max_lag_ms"] >= 400
    assert view["stall_ms"] == 100
    warnings = [
        record.getMessage()
        for record in caplog.records
        if record.levelno == logging.WARNING and "_hold_the_loop" in record.getMessage()
    ]
    assert len(warnings) == 1, warnings  # one warning per stall, sampled while it lasted
    assert "action=loop_stall" in warnings[0]
    assert "unit/test_looplag.py:" in warnings[0]
    where = warnings[0].partition(" where=")[2]
    assert where.index("_hold_the_loop") < where.index("test_a_stall")  # innermost first


async def test_close_stops_the_watchdog_thread_and_is_safe_twice() -> None:
    monitor = LoopLag(stall_s=0.05, interval_s=0.01)
    await monitor.start()
    await asyncio.sleep(0.05)
    assert any(thread.name == "corral-loop-watchdog" for thread in threading.enumerate())
    await monitor.close()
    await monitor.close()
    assert not any(thread.name == "corral-loop-watchdog" for thread in threading.enumerate())
    ticks = monitor.view()
    await asyncio.sleep(0.05)
    assert monitor.view() == ticks  # no task measures any more


async def test_the_measuring_task_is_restarted_when_it_dies_then_stops_loudly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    monitor = LoopLag(stall_s=0.05, interval_s=0.01)
    original = monitor._record
    failures = [1]

    def flaky(now: float, expected: float) -> None:
        if failures[0]:
            failures[0] -= 1
            raise RuntimeError("broken tick")
        original(now, expected)

    monitor._record = flaky  # type: ignore[method-assign]
    await monitor.start()
    try:
        await asyncio.sleep(0.1)
        assert monitor.restarts == 1
        assert "action=loop_lag_died error=RuntimeError('broken tick')" in caplog.text
        before = monitor._last_tick
        await asyncio.sleep(0.05)
        assert monitor._last_tick > before  # measuring again

        failures[0] = 100  # it keeps dying: after MAX_RESTARTS it stops and says so
        await asyncio.sleep(0.2)
        assert "action=loop_lag_stopped" in caplog.text
        assert monitor._task is None
    finally:
        await monitor.close()
