"""Template callbacks under a time limit, off the render client's event loop.

A template's render-client callbacks are code a template author wrote: they
may raise, loop or block. `run_limited` runs one call in a worker thread and
waits for it at most `timeout_s`; an exception of any kind (SystemExit
included) comes back as a TemplateError whose cause carries the traceback, and
a call past its limit fails with TemplateError while its thread is left
behind (Python cannot stop a thread): the chunk fails, the client goes on.

Starting a thread per call costs more than a short callback itself (the loop
waits for the new thread to be scheduled), so the workers are kept: a worker
whose call returned waits up to `WORKER_IDLE_S` for the next one, and each call
runs in a fresh, empty `contextvars` context, as it would in a new thread. A
worker whose call went past its limit is abandoned: it ends when (if ever) that
call returns, and never takes another one.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import queue
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from dispatcher.errors import TemplateError

logger = logging.getLogger(__name__)

T = TypeVar("T")
DEFAULT_HOOK_TIMEOUT_S = 60.0

WORKER_IDLE_S = 30.0
"""How long a kept worker waits for its next call before it ends."""

# Threads of callbacks that never returned (for the log and the tests).
abandoned: list[threading.Thread] = []


def _deliver(future: asyncio.Future[T], result: T | None, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)  # type: ignore[arg-type]


_Job = tuple[Callable[[], Any], str, asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class _Worker:
    """One kept thread that runs callbacks handed to it, one at a time."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self.given_up = False  # set on the loop when a call went past its limit
        self.thread = threading.Thread(target=self._serve, name="corral-template", daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                job = self.jobs.get(timeout=WORKER_IDLE_S)
            except queue.Empty:
                if _pool.retire(self) or self.given_up:
                    return
                continue  # taken for a call at this very moment: it is on its way
            call, what, loop, future = job
            self.thread.name = f"corral-template-{what}"[:60]
            result: Any = None
            error: BaseException | None = None
            try:
                result = contextvars.Context().run(call)
            except TemplateError as exc:
                error = exc
            except BaseException as exc:  # SystemExit too: it must not reach the event loop
                error = TemplateError(f"{what} raised {type(exc).__name__}: {exc}")
                error.__cause__ = exc
            del job, call
            # Back among the idle ones before the answer goes out: the caller's next
            # call, made as soon as it has this answer, finds this thread ready.
            kept = _pool.put_back(self)
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(_deliver, future, result, error)
            del result, error, future, loop
            if not kept:
                return


class _Pool:
    """The idle workers of this process (any event loop may use them)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []

    def take(self) -> _Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if not worker.given_up:
                    return worker
        worker = _Worker()
        worker.thread.start()
        return worker

    def put_back(self, worker: _Worker) -> bool:
        with self._lock:
            if worker.given_up:
                return False
            self._idle.append(worker)
            return True

    def retire(self, worker: _Worker) -> bool:
        """True when an idle worker may end (nobody has taken it meanwhile)."""
        with self._lock:
            if worker in self._idle:
                self._idle.remove(worker)
                return True
            return False

    def idle_count(self) -> int:
        with self._lock:
            return len(self._idle)


_pool = _Pool()


async def run_limited(call: Callable[[], T], *, timeout_s: float, what: str) -> T:
    """`call()` in a worker thread; its value, or TemplateError when it raises or takes
    too long."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    worker = _pool.take()
    worker.jobs.put((call, what, loop, future))
    try:
        return await asyncio.wait_for(asyncio.shield(future), timeout_s)
    except TimeoutError:
        worker.given_up = True
        thread = worker.thread
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


def run_inline(call: Callable[[], T], *, what: str) -> T:
    """`call()` here and now, for Corral's own stock templates (renderclient/stock.py):
    its value, or TemplateError when it raises, as `run_limited` answers (no time limit,
    no worker thread)."""
    try:
        return contextvars.Context().run(call)
    except TemplateError:
        raise
    except Exception as exc:
        raise TemplateError(f"{what} raised {type(exc).__name__}: {exc}") from exc


async def call_template(call: Callable[[], T], *, trusted: bool, timeout_s: float, what: str) -> T:
    """`run_inline` for a stock template's callback, else `run_limited`."""
    if trusted:
        return run_inline(call, what=what)
    return await run_limited(call, timeout_s=timeout_s, what=what)


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
