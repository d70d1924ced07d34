"""Ending our own background tasks for sure (the dispatcher's, the hook host's and the
render client's).

Python 3.11's `asyncio.wait_for` can lose a cancellation when the future it awaits
completes at the same moment: the task goes on as if nothing happened, and whoever
awaits its end after cancelling it waits for ever (a render client that never exited
after SIGTERM; a dispatcher whose close would never end). `cancel_all` cancels again
whatever is still running a moment later.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

CANCEL_AGAIN_S = 0.5


async def cancel_all(tasks: Iterable[asyncio.Task[Any]], again_s: float = CANCEL_AGAIN_S) -> None:
    """Cancel `tasks` and return once every one has ended (their errors are taken, not
    raised: the caller is shutting down)."""
    everything = list(tasks)
    pending = set(everything)
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=again_s)
    for task in everything:
        if not task.cancelled():
            task.exception()  # (retrieved: no "never retrieved" warning at exit)
