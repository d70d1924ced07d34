"""Operations on the work of several jobs at once: preempt, usurp, reset failures, pause
(optionally stopping the running work) and delete (optionally only when nothing runs).

Each checks every job and the actor's permission over all of them before it changes
anything, then applies the change in one go (no await in between: no chunk starts
between the check and the change) and commits it as one."""

from __future__ import annotations

from typing import Any

from dispatcher.auth import Permission
from dispatcher.errors import Conflict, ValidationError
from dispatcher.events import JobEvent
from dispatcher.model import CHUNK_FAILED, CHUNK_RUNNING, Job, JobKind, Status
from dispatcher.operations.actor import Actor
from dispatcher.operations.farm import Area

MAX_JOBS_PER_REQUEST = 10_000


def _indexes(job: Job, code: int) -> list[int]:
    return [index for index, status in enumerate(job.chunk_status) if status == code]


def _priority(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(
            f"minimum_priority: {value!r} is not a whole number", field="minimum_priority"
        )
    return value


class JobWorkOperations(Area):
    def jobs(self, actor: Actor, keys: object) -> list[Job]:
        """The jobs a request names (ids, UUIDs or titles), each once, in the order given;
        NotFound for the first unknown one, PermissionDenied for one the actor may not
        manage."""
        if not isinstance(keys, list) or not keys:
            raise ValidationError("jobs: a non-empty list of job ids is required", field="jobs")
        if len(keys) > MAX_JOBS_PER_REQUEST:
            raise ValidationError(f"jobs: at most {MAX_JOBS_PER_REQUEST} per request", field="jobs")
        found: dict[int, Job] = {}
        for key in keys:
            if isinstance(key, bool) or not isinstance(key, (int, str)):
                raise ValidationError(f"jobs: {key!r} is not a job id", field="jobs")
            job = self.farm.queue.get(key)
            found.setdefault(job.id, job)
        for job in found.values():
            actor.may_manage(job)
        return list(found.values())

    def _requeue(self, jobs: list[Job]) -> dict[int, int]:
        """Queue the jobs' running chunks again, killing them on their nodes."""
        queue = self.farm.queue
        requeued: dict[int, int] = {}
        for job in jobs:
            indexes = _indexes(job, CHUNK_RUNNING)
            for index in indexes:
                queue.set_chunk_status(job, index, Status.QUEUED)
            requeued[job.id] = len(indexes)
        return requeued

    async def _done(self, actor: Actor, action: str, counts: dict[int, int]) -> dict[str, Any]:
        ids = list(counts)
        await self.finish(actor, JobEvent(action=action, actor=actor.name, jobs=ids), jobs=ids)
        return {"jobs": ids, "chunks": {str(key): count for key, count in counts.items()}}

    async def preempt(self, actor: Actor, keys: object) -> dict[str, Any]:
        """Stop the jobs' running chunks (killed on their nodes, queued again) without
        pausing the jobs; answers the jobs and how many chunks of each were requeued."""
        jobs = self.jobs(actor, keys)
        self.writable()
        return await self._done(actor, "preempt", self._requeue(jobs))

    async def usurp(
        self, actor: Actor, keys: object, minimum_priority: object = None
    ) -> dict[str, Any]:
        """Preempt every other job running below a priority: the lowest of the given
        jobs', or `minimum_priority`; answers the preempted jobs."""
        jobs = self.jobs(actor, keys)
        if minimum_priority is None:
            threshold = min(job.priority for job in jobs)
        else:
            threshold = _priority(minimum_priority)
        mine = {job.id for job in jobs}
        queue = self.farm.queue
        others = [
            other
            for key in sorted(queue.index.state.ids(Status.RUNNING))
            if key not in mine
            and (other := queue.jobs.get(key)) is not None
            and other.priority < threshold
            and CHUNK_RUNNING in other.chunk_status
        ]
        for other in others:  # all or nothing: every victim is checked first
            actor.may_manage(other)
        self.writable()
        return await self._done(actor, "usurp", self._requeue(others))

    async def reset_failures(self, actor: Actor, keys: object) -> dict[str, Any]:
        """Queue the jobs' failed chunks again with their retries restored, and let nodes
        that excluded the jobs after failures run them again (manage-nodes)."""
        actor.require(Permission.MANAGE_NODES)
        jobs = self.jobs(actor, keys)
        self.writable()
        queue, control = self.farm.queue, self.farm.control
        counts: dict[int, int] = {}
        for job in jobs:
            indexes = _indexes(job, CHUNK_FAILED)
            for index in indexes:
                queue.set_chunk_status(job, index, Status.QUEUED)
            for node_id in self._failed_nodes(job):
                control.purge_job_exclusions(node_id, job.id)
            counts[job.id] = len(indexes)
        return await self._done(actor, "reset_failures", counts)

    def _failed_nodes(self, job: Job) -> list[int]:
        """The nodes that exclude the job or count failures of it."""
        queue = self.farm.queue
        found = {node_id for (job_id, node_id) in queue.node_failures if job_id == job.id}
        found.update(node.id for node in queue.nodes.values() if job.id in node.excluded_jobs)
        return sorted(found)

    async def pause(self, actor: Actor, keys: object, *, stop_work: bool = False) -> dict[str, Any]:
        """Pause the jobs; with `stop_work` their running chunks are also killed and queued
        again. Answers how many chunks of each were requeued."""
        jobs = self.jobs(actor, keys)
        hooks = self.farm.hooks
        for job in jobs:
            hooks.guard(job.template, ("onJobPropertiesChanged",), f"pause of job {job.id}")
        self.writable()
        for job in jobs:
            self.farm.queue.pause(job)
        counts = self._requeue(jobs) if stop_work else {job.id: 0 for job in jobs}
        return await self._done(actor, "pause", counts)

    async def delete(self, actor: Actor, keys: object, *, stop_work: bool = True) -> list[int]:
        """Delete the jobs (their running chunks are killed); without `stop_work`, a job
        with a running chunk is a Conflict and nothing is deleted."""
        jobs = self.jobs(actor, keys)
        queue = self.farm.queue
        if not stop_work:
            busy = [job.id for job in jobs if CHUNK_RUNNING in job.chunk_status]
            if busy:
                raise Conflict(
                    f"jobs {', '.join(map(str, busy))} have running chunks; nothing was "
                    "deleted (stop_work deletes them anyway)"
                )
        for job in jobs:
            if job.kind is JobKind.FOLDER and queue.index.parent.ids(job.id):
                raise Conflict(f"folder {job.id} is not empty")
            self.farm.hooks.guard(job.template, ("onDeleteJob",), f"delete of job {job.id}")
        self.writable()
        for job in jobs:
            queue.delete(job)
        ids = [job.id for job in jobs]
        await self.finish(actor, JobEvent(action="delete", actor=actor.name, jobs=ids), jobs=ids)
        for job_id in ids:  # once the deletion is durable (as jobs.delete)
            self.farm.chunk_logs.remove_job(job_id)
        return ids
