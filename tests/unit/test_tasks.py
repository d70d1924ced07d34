"""cancel_all ends a task even when one cancellation is lost (as 3.11's wait_for can)."""

from __future__ import annotations

import asyncio

from dispatcher.tasks import cancel_all


async def test_a_task_that_loses_its_first_cancellation_still_ends() -> None:
    rounds = 0

    async def stubborn() -> None:
        nonlocal rounds
        while True:
            rounds += 1
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if rounds == 1:
                    continue  # the first cancellation is lost, as in wait_for's race
                raise

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_all([task], again_s=0.05), 5)
    assert task.cancelled() and rounds == 2


async def test_errors_of_ended_tasks_are_taken_not_raised() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    async def waits() -> None:
        await asyncio.sleep(3600)

    failed, waiting = asyncio.create_task(fails()), asyncio.create_task(waits())
    await asyncio.sleep(0)
    await cancel_all([failed, waiting])
    assert waiting.cancelled() and isinstance(failed.exception(), RuntimeError)
    await cancel_all([])  # nothing to end: returns at once
