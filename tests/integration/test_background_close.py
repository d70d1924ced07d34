"""A dispatcher closing itself from a callback (a store failure, a leader stepping
down) lets whoever waits for it go even when one of its parts fails to close."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from dispatcher.app import Dispatcher
from dispatcher.config import Settings
from dispatcher.errors import StoreError


def settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, port=0, http_port=0, compat_port=None)


@pytest.mark.parametrize("how", ["fatal", "step_down"])
async def test_a_part_failing_to_close_still_ends_the_wait(
    tmp_path: Path, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    dispatcher = Dispatcher(settings(tmp_path / "data"))
    await dispatcher.start()
    real_close = dispatcher.store.close

    async def failing_close() -> None:  # (a store that cannot close: injected)
        await real_close()
        raise StoreError("the store could not close")

    dispatcher.store.close = failing_close  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="dispatcher.app"):
        if how == "fatal":
            dispatcher._fatal(StoreError("the disk went away"))
        else:
            dispatcher.role = None  # (step_down acts on any dispatcher not a standby)
            dispatcher.step_down("fenced")
        await asyncio.wait_for(dispatcher.wait_closed(), 20)
        assert dispatcher._fatal_close is not None
        await asyncio.gather(dispatcher._fatal_close, return_exceptions=True)
        await asyncio.sleep(0)  # (the task's done callback runs next)
    assert "action=close_failed" in caplog.text
    assert "the store could not close" in caplog.text
    # A second call finds it closed and starts nothing more.
    first = dispatcher._fatal_close
    dispatcher._fatal(StoreError("again"))
    assert dispatcher._fatal_close is first
