"""Template hooks at the dispatcher's lifecycle points.

`Hooks` decides which template hooks run when, and turns their answers into
effects; the `HookHost` (hooks/supervisor.py) runs them. The rules (the full
table is in docs/hooks.md):

- A job's hooks are its template's; job-less hooks (onDispatcherIdling,
  onDispatcherOverrideImpersonationUser) run for every installed template that
  overrides them, by template id. A hook a template does not override is never
  called.
- Submission (`admit`): impersonation, then onValidateJobSubmission (a
  non-zero code, or a hook that fails, refuses with the reason), then
  onSubmitJob (changes the job before it is queued). Edits (`before_edit`):
  onEditJob sees the edited job and may change or refuse it.
- Notifications (onJobPropertiesChanged, onDeleteJob, onReinitJob, onJobStart,
  onJobCompleted, onJobEnd) are queued and batched per loop tick.
- onValidateJobDependancies / onValidateChunkDependancies hold a job or a
  chunk back through the scheduler's hook points: `Holds` (hooks/holds.py),
  this service's `holding`, asks them with the calls queued here.
- onDispatcherIdling runs every `idle_hook_interval_s` while nodes idle, but a
  template's next call is queued only once its last one has answered: a slow
  idle hook never piles calls up in front of submissions.
- Re-entrancy: an API call made by a running hook never waits for hooks. The
  hooks it triggers are queued one level deeper (CALLER_DEPTH + 1) and run
  after the calling hook returns; a job submitted or edited from a hook is held
  until its own hooks have run. A change whose hooks would run deeper than
  MAX_DEPTH is refused (the calling hook gets the error, it is logged), never
  applied with its hooks skipped. A job its hooks reinitialise more than
  MAX_HOOK_REINITS times in a row (onJobEnd calling jobReinit) is refused the
  next reinit, so such a loop ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from dispatcher import jobspec
from dispatcher.activity import ActivityLog, MessageLog
from dispatcher.config import Settings
from dispatcher.errors import Refused, ValidationError
from dispatcher.model import Job, Status
from dispatcher.nodes import NodeServer
from dispatcher.queue import Queue
from dispatcher.store.sqlite import SqliteStore
from dispatcher.tasks import cancel_all
from dispatcher.views import job_view
from hooks import wire
from hooks.catalog import TemplateCatalog
from hooks.holds import Holds
from hooks.host import REF_KEY
from hooks.supervisor import CALLER_DEPTH, HookHost

log = logging.getLogger(__name__)

MAX_DEPTH = 3
MAX_HOOK_REINITS = 10  # reinits of one job by its hooks, with no reinit from outside between
# A hold question (or an idle call) unanswered this long is asked again: three hard
# deadlines of the hook host, and never less than a minute, so that a busy host
# is not sent the same questions over and over.
ASK_TIMEOUT_DEADLINES = 3
MIN_ASK_TIMEOUT_S = 60.0
MAX_BATCH_CALLS = 256  # hook calls in one frame to the host
SPEC_FIELDS = frozenset(jobspec.JobSpec.model_fields) - {"frames"}

IDLING = "onDispatcherIdling"
IMPERSONATION = "onDispatcherOverrideImpersonationUser"

Callback = Callable[[wire.Done], None]


class HookFarm(Protocol):
    """The dispatcher's parts the hooks read and act on (attributes of `Dispatcher`)."""

    settings: Settings
    templates: TemplateCatalog
    queue: Queue
    store: SqliteStore
    node_server: NodeServer
    activity: ActivityLog
    message_log: MessageLog


@dataclass
class _Pending:
    call: wire.HookCall
    depth: int
    callback: Callback | None


def spec_wire(spec: jobspec.JobSpec, owner: str) -> dict[str, Any]:
    """A spec as the MJob a submission hook sees."""
    data = spec.model_dump(mode="json", exclude={"frames"})
    data.update(id=-1, user=spec.user or owner, state=Status.QUEUED.value)
    return data


def spec_from_wire(data: dict[str, Any]) -> jobspec.JobSpec:
    """The spec a hook left in an MJob; ValidationError when it broke a rule."""
    return jobspec.parse_spec({key: value for key, value in data.items() if key in SPEC_FIELDS})


def edit_changes(job: Job, data: dict[str, Any]) -> dict[str, Any]:
    """The editable fields a hook changed in an MJob of `job`, validated."""
    current = job_view(job)
    changed = {
        key: data[key] for key in jobspec.EDITABLE if key in data and data[key] != current.get(key)
    }
    return jobspec.parse_edit(changed) if changed else {}


def _reason(template: str, method: str, done: wire.Done) -> str:
    if done.error:
        error_lines = [
            line.strip() for line in done.error.strip().splitlines() if line.strip()
        ] or ["it failed"]
        what = error_lines[0]
        if len(error_lines) > 1 and "HookTimedOut" not in error_lines[-1]:
            what += f": {error_lines[-1]}"
        return f"template {template}: {method} failed ({what})"
    text = done.description or f"code {done.code}"
    return f"template {template} refused: {text}"


class Hooks:
    """The dispatcher's template hooks. `await start()`, `await close()`."""

    def __init__(self, dispatcher: HookFarm, host: HookHost) -> None:
        self.dispatcher = dispatcher
        self.host = host
        self._pending: list[_Pending] = []
        self._flush_scheduled = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self.admitting: set[int] = set()
        self.holding = Holds(
            dispatcher,
            overrides=self.overrides,
            enqueue=self.enqueue,
            ask_timeout_s=lambda: self.ask_timeout_s,
            admitting=self.admitting,
        )
        self._idling: dict[str, float] = {}  # template -> when its pending idle call was queued
        self._hook_reinits: Counter[int] = Counter()
        self.skipped = 0
        self.closed = False
        self._cached_set: object = None
        self._cache: dict[tuple[str, str], bool] = {}

    # -- lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        await self.host.start()
        for name, loop in (
            ("hook-idling", self._idle_loop),
            ("hook-hold-recheck", self.holding.recheck_loop),
        ):
            task = asyncio.create_task(loop(), name=name)
            task.add_done_callback(self._loop_done)
            self._loops.append(task)

    def _loop_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None and not self.closed:
            log.error("action=hook_loop_died task=%s error=%r", task.get_name(), task.exception())

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        await cancel_all([*self._loops, *self._tasks])
        await self.host.close()

    # -- which hooks exist -------------------------------------------------------
    def overrides(self, template_key: str, method: str) -> bool:
        """True when the template `template_key` overrides hook `method` (cached per template set)."""
        templates = self.dispatcher.templates
        if templates is not self._cached_set:
            self._cached_set = templates
            self._cache.clear()
        key = (template_key, method)
        found = self._cache.get(key)
        if found is None:
            template = templates.get(template_key)
            found = self._cache[key] = template is not None and template.overrides(method)
        return found

    def templates_overriding(self, method: str) -> list[str]:
        return [t.getKey() for t in self.dispatcher.templates.templates if t.overrides(method)]

    # -- queueing calls ------------------------------------------------------------
    def _depth(self) -> int:
        return CALLER_DEPTH.get() + 1

    @property
    def ask_timeout_s(self) -> float:
        """How long a hold question or an idle call may stay unanswered before it is asked again."""
        return max(MIN_ASK_TIMEOUT_S, ASK_TIMEOUT_DEADLINES * self.host.hard_deadline_s)

    def guard(self, template: str, methods: tuple[str, ...], what: str) -> None:
        """Refuse (Refused, logged) a change made from a hook whose hooks would run past MAX_DEPTH.

        `methods` are the hooks the change triggers on `template`; a change that
        triggers none of them is never refused.
        """
        depth = self._depth()
        if not self.in_hook() or depth <= MAX_DEPTH:
            return
        triggered = [method for method in methods if self.overrides(template, method)]
        if not triggered:
            return
        self.skipped += 1
        log.error(
            "action=hook_depth_refused what=%r template=%s hooks=%s depth=%d limit=%d",
            what, template, ",".join(triggered), depth, MAX_DEPTH,
        )  # fmt: skip
        raise Refused(
            f"{what}: refused, its hooks ({', '.join(triggered)}) would run at depth {depth}, "
            f"past the limit of {MAX_DEPTH} nested hook calls"
        )

    def before_reinit(self, job: Job) -> None:
        """Refuse a reinit from a hook past the depth limit, or past MAX_HOOK_REINITS in a row."""
        if not self.in_hook():
            return
        self.guard(job.template, ("onReinitJob",), f"reinit of job {job.id}")
        count = self._hook_reinits[job.id] + 1
        if count > MAX_HOOK_REINITS:
            log.error(
                "action=hook_reinit_refused job=%d reinits=%d limit=%d; a hook loop is stopped",
                job.id, count - 1, MAX_HOOK_REINITS,
            )  # fmt: skip
            raise Refused(
                f"job {job.id} was reinitialised by hooks {MAX_HOOK_REINITS} times in a row; "
                "refused, so that a hook cannot loop for ever (a reinit from outside hooks "
                "resets the count)"
            )
        self._hook_reinits[job.id] = count

    def enqueue(
        self, call: wire.HookCall, callback: Callback | None = None, depth: int | None = None
    ) -> bool:
        """Queue one hook call for this tick's batch; False when the depth limit skips it."""
        depth = self._depth() if depth is None else depth
        if depth > MAX_DEPTH:  # the changes that trigger hooks are refused by guard() before
            self.skipped += 1
            log.error(
                "action=hook_refused template=%s hook=%s depth=%d reason=depth_limit_%d",
                call.template, call.method, depth, MAX_DEPTH,
            )  # fmt: skip
            return False
        self._pending.append(_Pending(call, depth, callback))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        return True

    async def call(self, call: wire.HookCall, depth: int | None = None) -> wire.Done | None:
        """Run one hook and wait for it (None when the depth limit skipped it)."""
        future: asyncio.Future[wire.Done] = asyncio.get_running_loop().create_future()

        def resolve(done: wire.Done) -> None:
            if not future.done():
                future.set_result(done)

        if not self.enqueue(call, resolve, depth):
            return None
        return await future

    def _flush(self) -> None:
        self._flush_scheduled = False
        pending, self._pending = self._pending, []
        by_depth: dict[int, list[_Pending]] = {}
        for item in pending:
            by_depth.setdefault(item.depth, []).append(item)
        for depth, items in sorted(by_depth.items()):
            for start in range(0, len(items), MAX_BATCH_CALLS):
                self.spawn(
                    self._run_batch(items[start : start + MAX_BATCH_CALLS], depth), "hook-batch"
                )

    async def _run_batch(self, items: list[_Pending], depth: int) -> None:
        results = await self.host.invoke([item.call for item in items], depth)
        for item, done in zip(items, results, strict=True):
            if item.callback is not None:
                try:
                    item.callback(done)
                except Exception:
                    log.exception("action=hook_result_error hook=%s", item.call.method)

    def spawn(self, coro: Any, name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("action=hook_task_failed task=%s error=%r", task.get_name(), task.exception())

    def notify(self, job: Job, method: str, chunk: dict[str, Any] | None = None) -> None:
        """Queue a notification hook of the job's template, if it overrides it."""
        if self.overrides(job.template, method):
            self.enqueue(wire.HookCall(job.template, method, job_view(job), chunk))

    # -- submission --------------------------------------------------------------------
    def in_hook(self) -> bool:
        """True while serving an API call of a running hook or script."""
        return CALLER_DEPTH.get() > 0

    async def admit(self, specs: list[jobspec.JobSpec], user: str) -> list[jobspec.JobSpec]:
        """Run the submission hooks of each spec; raises Refused naming the job and reason."""
        if self.in_hook():
            for position, spec in enumerate(specs):
                if spec.kind.value == "job":
                    self.guard(spec.template, ("onValidateJobSubmission", "onSubmitJob"),
                               f"submission of job #{position} {spec.title!r}")  # fmt: skip
            return specs  # deferred: `submitted` holds the jobs until their hooks ran
        admitted = []
        for position, spec in enumerate(specs):
            where = f"job #{position}: " if len(specs) > 1 else ""
            spec = await self._impersonate(spec, user)
            if spec.kind.value != "job":
                admitted.append(spec)
                continue
            data = spec_wire(spec, user)
            if self.overrides(spec.template, "onValidateJobSubmission"):
                done = await self.call(
                    wire.HookCall(spec.template, "onValidateJobSubmission", data)
                )
                if done is not None and not done.ok:
                    raise Refused(where + _reason(spec.template, "onValidateJobSubmission", done))
            if self.overrides(spec.template, "onSubmitJob"):
                done = await self.call(wire.HookCall(spec.template, "onSubmitJob", data))
                if done is not None and not done.ok and not done.error:
                    raise Refused(where + _reason(spec.template, "onSubmitJob", done))
                if done is not None and done.ok and done.job is not None:
                    try:
                        spec = spec_from_wire(done.job)
                    except ValidationError as exc:
                        raise Refused(
                            f"{where}template {spec.template}: onSubmitJob left the job invalid: {exc}"
                        ) from None
            admitted.append(spec)
        return admitted

    async def _impersonate(self, spec: jobspec.JobSpec, user: str) -> jobspec.JobSpec:
        owner = spec.user or user
        for key in self.templates_overriding(IMPERSONATION):
            done = await self.call(
                wire.HookCall(key, IMPERSONATION, None, None, [user, {REF_KEY: owner}])
            )
            if done is not None and done.ok and done.value and done.value.strip():
                owner = done.value.strip()[:255]
        if owner != (spec.user or user):
            log.info("action=impersonated user=%s owner=%s", user, owner)
            return spec.model_copy(update={"user": owner})
        return spec

    def submitted(self, jobs: list[Job]) -> None:
        """After queueing: record the jobs; from inside a hook, hold them for their deferred hooks."""
        for job in jobs:
            self.dispatcher.activity.record("submitted", job.id, title=job.title, user=job.user)
        if not self.in_hook():
            return
        depth = self._depth()
        for job in jobs:
            wanted = [
                m
                for m in ("onValidateJobSubmission", "onSubmitJob")
                if self.overrides(job.template, m)
            ]
            if wanted and depth <= MAX_DEPTH:
                self.admitting.add(job.id)
                self.spawn(self._deferred_admission(job, wanted, depth), f"hook-admit-{job.id}")

    async def _deferred_admission(self, job: Job, methods: list[str], depth: int) -> None:
        queue = self.dispatcher.queue
        try:
            for method in methods:
                if queue.jobs.get(job.id) is not job:
                    return
                done = await self.call(wire.HookCall(job.template, method, job_view(job)), depth)
                if done is None or queue.jobs.get(job.id) is not job:
                    continue
                if not done.ok and (method == "onValidateJobSubmission" or not done.error):
                    reason = _reason(job.template, method, done)
                    log.warning(
                        "action=deferred_submission_refused job=%d reason=%r", job.id, reason
                    )
                    self.admitting.discard(job.id)
                    queue.delete(job)
                    self.dispatcher.message_log.add(
                        f"job {job.id} refused: {reason}", source="hooks"
                    )
                    return
                if done.ok and done.job is not None:
                    try:
                        changes = edit_changes(job, done.job)
                    except ValidationError as exc:
                        log.warning(
                            "action=hook_change_refused job=%d hook=%s reason=%r",
                            job.id,
                            method,
                            str(exc),
                        )
                        continue
                    if changes:
                        queue.edit(job, changes)
        finally:
            self.admitting.discard(job.id)
            if queue.jobs.get(job.id) is job:
                self.dispatcher.node_server.scheduler.job_changed(job)
            await self.dispatcher.store.commit()

    # -- edits ---------------------------------------------------------------------------
    async def before_edit(self, job: Job, changes: dict[str, Any]) -> dict[str, Any]:
        """onEditJob on the edited job: returns the changes to apply; raises Refused."""
        if changes:
            self.guard(
                job.template, ("onEditJob", "onJobPropertiesChanged"), f"edit of job {job.id}"
            )
        if not changes or not self.overrides(job.template, "onEditJob"):
            return changes
        if self.in_hook():
            self._deferred_edit(job, changes)
            return changes
        data = {**job_view(job), **jobspec_json(changes)}
        done = await self.call(wire.HookCall(job.template, "onEditJob", data))
        if done is None or done.error:
            return changes
        if not done.ok:
            raise Refused(_reason(job.template, "onEditJob", done))
        if done.job is None:
            return changes
        merged = {**data, **done.job}
        try:
            extra = edit_changes(job, merged)
        except ValidationError as exc:
            raise Refused(
                f"template {job.template}: onEditJob left the job invalid: {exc}"
            ) from None
        return {**changes, **extra}

    def _deferred_edit(self, job: Job, changes: dict[str, Any]) -> None:
        previous = {name: job_view(job).get(name) for name in changes}

        def applied(done: wire.Done) -> None:
            queue = self.dispatcher.queue
            if queue.jobs.get(job.id) is not job or done.error:
                return
            if not done.ok:
                log.warning(
                    "action=deferred_edit_refused job=%d reason=%r; edit undone",
                    job.id,
                    done.description,
                )
                queue.edit(job, jobspec.parse_edit(previous))
            elif done.job is not None:
                try:
                    extra = edit_changes(job, done.job)
                except ValidationError as exc:
                    log.warning(
                        "action=hook_change_refused job=%d hook=onEditJob reason=%r",
                        job.id,
                        str(exc),
                    )
                    return
                if extra:
                    queue.edit(job, extra)

        self.enqueue(
            wire.HookCall(job.template, "onEditJob", {**job_view(job), **jobspec_json(changes)}),
            applied,
        )

    # -- queue notifications ---------------------------------------------------------------
    def job_edited(self, job: Job, changes: dict[str, object]) -> None:
        self.holding.clear_holds(job.id)
        self.notify(job, "onJobPropertiesChanged")

    def job_deleted(self, job: Job) -> None:
        self.holding.forget(job.id)
        self.dispatcher.activity.record("deleted", job.id, title=job.title)
        self.notify(job, "onDeleteJob")

    def job_reinit(self, job: Job) -> None:
        self.holding.forget(job.id)
        if not self.in_hook():
            self._hook_reinits.pop(job.id, None)
        self.dispatcher.activity.record("reinit", job.id, title=job.title)
        self.notify(job, "onReinitJob")

    def job_started(self, job: Job) -> None:
        self.dispatcher.activity.record("started", job.id, title=job.title)
        self.notify(job, "onJobStart")

    def job_finished(self, job: Job) -> None:
        state = job.state
        self.dispatcher.activity.record(
            "completed" if state is Status.DONE else "failed", job.id, title=job.title
        )
        if state is Status.DONE:
            self.notify(job, "onJobCompleted")
        self.notify(job, "onJobEnd")

    def job_changed(self, job: Job) -> None:
        """Any change of a job: its held verdicts are asked again."""
        self.holding.clear_holds(job.id)

    # -- idling ------------------------------------------------------------------------------
    async def _idle_loop(self) -> None:
        while True:
            await asyncio.sleep(self.dispatcher.settings.idle_hook_interval_s)
            if self.nodes_idle():
                for key in self.templates_overriding(IDLING):
                    self._idle(key)

    def _idle(self, key: str) -> None:
        """Queue template `key`'s onDispatcherIdling unless its last call is still pending."""
        queued = self._idling.get(key)
        if queued is not None and time.monotonic() - queued < self.ask_timeout_s:
            return
        self._idling[key] = now = time.monotonic()

        def answered(done: wire.Done) -> None:
            if self._idling.get(key) == now:
                del self._idling[key]

        if not self.enqueue(wire.HookCall(key, IDLING), answered, depth=1):
            self._idling.pop(key, None)

    def nodes_idle(self) -> bool:
        """True when a connected, unpaused node runs nothing."""
        queue = self.dispatcher.queue
        server = self.dispatcher.node_server
        busy = {running.node_id for running in queue.running.values()}
        return any(
            node_id not in busy and not queue.nodes[node_id].paused
            for node_id in server.connected()
            if node_id in queue.nodes
        )


def jobspec_json(changes: dict[str, Any]) -> dict[str, Any]:
    """Parsed edit values in their JSON form (an MJob holds JSON values)."""
    out: dict[str, Any] = {}
    for name, value in changes.items():
        if hasattr(value, "model_dump"):
            out[name] = value.model_dump(mode="json")
        elif isinstance(value, list):
            out[name] = [
                item.model_dump(mode="json") if hasattr(item, "model_dump") else item
                for item in value
            ]
        else:
            out[name] = value
    return out
