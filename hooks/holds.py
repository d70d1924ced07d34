"""Dependency hooks holding jobs and chunks back, at the scheduler's hook points.

onValidateJobDependancies holds a job (`holds_job`), onValidateChunkDependancies
a chunk (`holds`). An unknown verdict holds while it is asked (asks are batched
per tick, at most `ASKS_PER_JOB` of a job and `MAX_ASKS` in all at once; a job
left unasked for want of room is walked again as answers come); a held verdict
is asked again when its job changes or every `chunk_hold_recheck_s`. A question
not answered within `ask_timeout_s` is dropped and asked again (a late answer is
ignored). A passed verdict is kept until its job is reinitialised or the
templates reload.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Protocol

from dispatcher.config import Settings
from dispatcher.model import Job
from dispatcher.nodes import NodeServer
from dispatcher.queue import Queue
from dispatcher.views import job_view
from hooks import wire

log = logging.getLogger(__name__)

ASKS_PER_JOB = 64
MAX_ASKS = 4096  # hold verdicts asked at once, over all jobs

JOB_HOLD = "onValidateJobDependancies"
CHUNK_HOLD = "onValidateChunkDependancies"

# Queue one hook call (its answer to the callback, at a depth); False when it is skipped.
Enqueue = Callable[[wire.HookCall, Callable[[wire.Done], None] | None, int | None], bool]


class HeldFarm(Protocol):
    """The dispatcher's parts the holds read (attributes of `Dispatcher`)."""

    settings: Settings
    queue: Queue
    node_server: NodeServer


class Holds:
    """The verdicts of the dependency hooks, asked, cached and asked again.

    `overrides(template, method)` and `enqueue` are the hooks' (hooks/lifecycle.py);
    `ask_timeout_s()` how long a question may stay unanswered; a job in `admitting`
    (its submission hooks still to run) is held whole.
    """

    def __init__(
        self,
        dispatcher: HeldFarm,
        *,
        overrides: Callable[[str, str], bool],
        enqueue: Enqueue,
        ask_timeout_s: Callable[[], float],
        admitting: set[int],
    ) -> None:
        self.dispatcher = dispatcher
        self._overrides = overrides
        self._enqueue = enqueue
        self._ask_timeout_s = ask_timeout_s
        self._admitting = admitting
        self.job_verdicts: dict[int, bool] = {}
        self.chunk_verdicts: dict[int, dict[int, bool]] = {}  # job -> chunk -> passed
        # (job, chunk or -1) being asked -> (when asked, the ask's token)
        self._asking: dict[tuple[int, int], tuple[float, int]] = {}
        self._ask_tokens = itertools.count(1)
        self._asking_per_job: Counter[int] = Counter()
        self._starved: dict[int, Job] = {}  # jobs with chunks left unasked for want of room
        self._rewalk_scheduled = False

    def holds_job(self, job: Job) -> bool:
        """The scheduler's job hook point: True keeps the whole job from running now."""
        if job.id in self._admitting:
            return True
        if not self._overrides(job.template, JOB_HOLD):
            return False
        verdict = self.job_verdicts.get(job.id)
        if verdict is None:
            self._ask(job, -1)
            return True
        return not verdict

    def holds(self, job: Job, index: int) -> bool | None:
        """The scheduler's chunk hook point: True keeps chunk `index` of `job` from running now;
        None also tells it that no later chunk of the job can be decided now (too many asked)."""
        if not self._overrides(job.template, CHUNK_HOLD):
            return False
        verdicts = self.chunk_verdicts.get(job.id)
        verdict = None if verdicts is None else verdicts.get(index)
        if verdict is None:
            return True if self._ask(job, index) else None
        return not verdict

    def _ask(self, job: Job, index: int) -> bool:
        """Ask the hook about a job (index -1) or chunk; False when the caps say not now."""
        key = (job.id, index)
        if key in self._asking:
            return True
        if index >= 0 and (
            self._asking_per_job[job.id] >= ASKS_PER_JOB or len(self._asking) >= MAX_ASKS
        ):
            self._starved[job.id] = job  # walked again when asks are answered
            return False
        token = next(self._ask_tokens)
        self._asking[key] = (time.monotonic(), token)
        self._asking_per_job[job.id] += 1
        if index < 0:
            call = wire.HookCall(job.template, JOB_HOLD, job_view(job))
        else:
            first, last = job.chunk_frames(index)
            chunk = {"id": index, "job_id": job.id, "state": "queued", "start": str(first), "end": str(last),
                     "attempts": job.chunk_attempts[index], "failures": job.chunk_failures[index]}  # fmt: skip
            call = wire.HookCall(job.template, CHUNK_HOLD, job_view(job), chunk)

        def answered(done: wire.Done) -> None:
            if self._asking.get(key, (0.0, 0))[1] != token:
                return  # timed out and asked again: this late answer is not the current one
            self._asked(key)
            if self.dispatcher.queue.jobs.get(job.id) is not job:
                return
            if done.error:
                log.warning(
                    "action=hold_hook_failed job=%d chunk=%d; held until asked again", job.id, index
                )
            if index < 0:
                self.job_verdicts[job.id] = done.ok
            else:
                self.chunk_verdicts.setdefault(job.id, {})[index] = done.ok
            if done.ok:
                self.dispatcher.node_server.scheduler.job_changed(job)

        if not self._enqueue(call, answered, 1):
            self._asked(key)
        return True

    def _asked(self, key: tuple[int, int]) -> None:
        if key in self._asking:
            del self._asking[key]
            self._asking_per_job[key[0]] -= 1
            if self._asking_per_job[key[0]] <= 0:
                del self._asking_per_job[key[0]]
        if self._starved and not self._rewalk_scheduled:
            self._rewalk_scheduled = True
            asyncio.get_running_loop().call_soon(self._rewalk_starved)

    def _rewalk_starved(self) -> None:
        """Jobs whose chunks could not be asked for want of room: walk them again now."""
        self._rewalk_scheduled = False
        scheduler = self.dispatcher.node_server.scheduler
        waiting, self._starved = list(self._starved.values()), {}
        for position, job in enumerate(waiting):
            if len(self._asking) >= MAX_ASKS:  # no room yet: the rest wait for the next answers
                self._starved.update((other.id, other) for other in waiting[position:])
                return
            if self.dispatcher.queue.jobs.get(job.id) is job:
                scheduler.job_changed(job)  # a job still without room puts itself back

    def clear_holds(self, job_id: int) -> None:
        """Forget the held (not the passed) verdicts of a job."""
        if self.job_verdicts.get(job_id) is False:
            del self.job_verdicts[job_id]
        verdicts = self.chunk_verdicts.get(job_id)
        if verdicts:
            for index in [index for index, ok in verdicts.items() if not ok]:
                del verdicts[index]

    def forget_all(self) -> None:
        """Drop every verdict (templates reloaded, queue replaced): all are asked again."""
        self.job_verdicts.clear()
        self.chunk_verdicts.clear()

    def forget(self, job_id: int) -> None:
        self.job_verdicts.pop(job_id, None)
        self.chunk_verdicts.pop(job_id, None)

    def _expire_questions(self) -> set[int]:
        """Drop hold questions unanswered past ask_timeout_s; the ids of their jobs."""
        limit = time.monotonic() - self._ask_timeout_s()
        expired = [key for key, (asked, _) in self._asking.items() if asked < limit]
        for key in expired:
            log.warning(
                "action=hold_question_timed_out job=%d chunk=%d after_s=%.1f; asked again",
                key[0], key[1], self._ask_timeout_s(),
            )  # fmt: skip
            self._asked(key)
        return {job_id for job_id, _ in expired}

    async def recheck_loop(self) -> None:
        """Every `chunk_hold_recheck_s`, ask again what timed out or was held."""
        while True:
            await asyncio.sleep(self.dispatcher.settings.chunk_hold_recheck_s)
            held = self._expire_questions()
            held |= {job_id for job_id, ok in self.job_verdicts.items() if not ok}
            held |= {
                job_id
                for job_id, verdicts in self.chunk_verdicts.items()
                if not all(verdicts.values())
            }
            scheduler = self.dispatcher.node_server.scheduler
            for job_id in held:
                self.clear_holds(job_id)
                job = self.dispatcher.queue.jobs.get(job_id)
                if job is not None:
                    scheduler.job_changed(job)
