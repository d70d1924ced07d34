"""Template callbacks under a time limit, off the render client's event loop.

A template's render-client callbacks are code a template author wrote: they
may raise, loop or block. `run_limited` runs one call in its own daemon thread
and waits for it at most `timeout_s`; an exception of any kind (SystemExit
included) comes back as a TemplateError whose cause carries the traceback, and
a call past its limit fails with TemplateError while its thread is left
behind (Python cannot stop a thread): the chunk fails, the client goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
import traceback
from collections.abc import Callable
from typing import TypeVar

from dispatcher.errors import TemplateError

logger = logging.getLogger(__name__)

T = TypeVar("T")
DEFAULT_HOOK_TIMEOUT_S = 60.0

# Threads of callbacks that never returned (for the log and the tests).
abandoned: list[threading.Thread] = []


def _deliver(future: asyncio.Future[T], result: T | None, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)  # type: ignore[arg-type]


async def run_limited(call: Callable[[], T], *, timeout_s: float, what: str) -> T:
    """`call()` in a thread; its value, or TemplateError when it raises or takes too long."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def target() -> None:
        result: T | None = None
        error: BaseException | None = None
        try:
            result = call()
        except TemplateError as exc:
            error = exc
        except BaseException as exc:  # SystemExit too: it must not reach the event loop
            error = TemplateError(f"{what} raised {type(exc).__name__}: {exc}")
            error.__cause__ = exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            loop.call_soon_threadsafe(_deliver, future, result, error)

    thread = threading.Thread(target=target, name=f"corral-template-{what}"[:60], daemon=True)
    thread.start()
    try:
        return await asyncio.wait_for(asyncio.shield(future), timeout_s)
    except TimeoutError:
        abandoned[:] = [old for old in abandoned if old.is_alive()]
        abandoned.append(thread)
        logger.error(
            "action=template_hook_timeout what=%s timeout_s=%g stuck_threads=%d",
            what,
            timeout_s,
            len(abandoned),
        )
        error = TemplateError(
            f"{what} did not return within {timeout_s:g} s (the template hook is stuck)"
        )
        frame = sys._current_frames().get(thread.ident or -1)
        if frame is not None:
            # Where it is stuck, for the chunk's log.
            error.add_note(
                "".join(["Stuck at (most recent call last):\n", *traceback.format_stack(frame)])
            )
        raise error from None


def failure_text(exc: BaseException) -> str:
    """What a chunk's log shows for a template failure: the message, then the
    template's traceback when there is one."""
    lines = [f"[corral] {exc}\n"]
    lines.extend(
        note if note.endswith("\n") else note + "\n" for note in getattr(exc, "__notes__", [])
    )
    cause = exc.__cause__
    if cause is not None:
        lines.extend(traceback.format_exception(type(cause), cause, cause.__traceback__))
    return "".join(lines)
