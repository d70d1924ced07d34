"""The in-memory queue. Every mutation of jobs and chunks goes through a method here:
it validates, changes memory, records the change for the store and tells the
scheduler. Callers acknowledge only after `store.commit()`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from decimal import Decimal

import msgspec

from dispatcher import frame_waits, jobspec, limits, logic
from dispatcher.errors import Conflict, NotFound, ValidationError
from dispatcher.indexes import JobIndex
from dispatcher.model import (
    CHUNK_CODE,
    CHUNK_DONE,
    CHUNK_FAILED,
    CHUNK_QUEUED,
    CHUNK_RUNNING,
    CHUNK_SKIPPED,
    Dependency,
    DependMode,
    Job,
    JobKind,
    Node,
    Status,
    frame_count,
    parse_id,
    parse_uuid,
    within,
)
from dispatcher.protocol import Ref, Result
from dispatcher.running import RunningTable
from dispatcher.store import Store, rows
from dispatcher.store.batch import Refusal
from dispatcher.store.sqlite import Snapshot

log = logging.getLogger(__name__)


class Running(msgspec.Struct):
    """An attempt that was assigned and has not ended (a Struct: made in C, one per chunk)."""

    node_id: int
    attempt: int
    started: float
    # What the render client last reported of it (Progress messages).
    percent: float | None = None
    frames_done: int = 0


def _noop(*_: object) -> None:
    return None


_NO_ACTIONS: frozenset[str] = frozenset()


class Queue:
    """Jobs, their chunks' states and the attempts in flight."""

    def __init__(
        self,
        store: Store,
        *,
        exclude_after_failures: int = 3,
        chunk_limits: limits.ChunkLimits | None = None,
    ) -> None:
        self.store = store
        self.chunk_limits = chunk_limits or limits.ChunkLimits()
        self.exclude_after_failures = exclude_after_failures
        self.jobs: dict[int, Job] = {}
        # Jobs by id, state, user, parent and template, for listings (kept in step below).
        self.index = JobIndex()
        self.nodes: dict[int, Node] = {}
        # The highest node id handed out or loaded (new_node_id: no scan of every node).
        self._top_node_id = 0
        # (kept by node too: RunningTable.on_node, no walk over every attempt)
        self.running: RunningTable[Running] = RunningTable()
        # Running chunks that reported progress, by job (for the progress events).
        self.reporting: dict[int, set[int]] = {}
        self.job_nodes: dict[int, Counter[int]] = {}
        # Running attempts per template key: the licenses in use (dispatcher/licenses.py).
        self.running_templates: Counter[str] = Counter()
        self.dependants: dict[int, set[int]] = {}
        self.node_failures: Counter[tuple[int, int]] = Counter()
        # What a failed chunk's retry needs: the nodes it failed on (avoided while
        # another node can run it) and, after an out-of-memory kill, more free memory
        # than the node it died on offered (bytes). Kept in the store with
        # `node_failures`, so a restart remembers them.
        self.failed_on: dict[tuple[int, int], set[int]] = {}
        self.memory_needed: dict[tuple[int, int], int] = {}
        self.next_job_id = 1
        self.next_seq = 1
        self.next_task_id = 1  # global task ids (PyFarm's), see Job.task_ids
        # Wired by the app: the scheduler's refresh, and the nodes' kill.
        self.on_change: Callable[[Job], None] = _noop
        self.on_remove: Callable[[int], None] = _noop
        self.on_kill: Callable[[Ref, int], None] = _noop
        self.on_finished: Callable[[Job], None] = _noop
        # Wired to the template hooks: a job was edited, deleted, reinitialised, started.
        self.on_edited: Callable[[Job, dict[str, object]], None] = _noop
        self.on_deleted: Callable[[Job], None] = _noop
        self.on_reinit: Callable[[Job], None] = _noop
        self.on_started: Callable[[Job], None] = _noop
        # Wired to the progress events: a chunk of the job changed state (the hot path).
        self.on_progress: Callable[[Job], None] = _noop
        # Wired to the scheduler: an attempt of the job ended (a license may be free).
        self.on_released: Callable[[Job], None] = _noop
        # Failed attempts since start (a result that failed, not a kill), for the metrics.
        self.failed_attempts = 0
        # Jobs whose chunk changes from results are announced once per loop tick (settle).
        self._unsettled: dict[int, Job] = {}

    # -- loading -------------------------------------------------------------
    def load(self, snapshot: Snapshot) -> None:
        """Take the store's contents. Running chunks stay running until reconciled."""
        started = time.time()
        for node in snapshot.nodes:
            self.nodes[node.id] = node
        self._top_node_id = max(self._top_node_id, max(self.nodes, default=0))
        for job in snapshot.jobs:
            self.jobs[job.id] = job
            self.index.update(job)
            for dep in job.depends_on:
                self.dependants.setdefault(dep.job_id, set()).add(job.id)
            for index in _indexes(job, CHUNK_RUNNING):
                node_id = job.chunk_nodes[index]
                self.running[(job.id, index)] = Running(node_id, job.chunk_attempts[index], started)
                self.job_nodes.setdefault(job.id, Counter())[node_id] += 1
                self.running_templates[job.template] += 1
        self.next_job_id = max(
            [int(snapshot.meta.get("next_job_id", 1)), *[j + 1 for j in self.jobs]]
        )
        self.next_seq = max([1, *[job.seq + 1 for job in self.jobs.values()]])
        self._number_tasks(int(snapshot.meta.get("next_task_id", 1)), self.jobs.values())
        self.failed_on.update(snapshot.failed_on)
        self.memory_needed.update(snapshot.memory_needed)
        self.node_failures.update(snapshot.node_failures)

    def reload(self, snapshot: Snapshot) -> None:
        """Forget everything and take the store's contents again (a standby's view of
        the farm, refreshed; dispatcher/standby.py). No callback runs."""
        for table in (self.jobs, self.nodes, self.running, self.reporting, self.job_nodes,
                      self.running_templates, self.dependants, self.node_failures,
                      self.failed_on, self.memory_needed):  # fmt: skip
            table.clear()  # (in place: other parts hold these tables)
        self.index = JobIndex()
        self.load(snapshot)

    def new_node_id(self) -> int:
        """An id past every node's, in constant time (a handshake registers with it).

        Nodes are added at the end of `nodes`, so the last key covers one added
        without this method; an id once handed out is not handed out again.
        """
        last = next(reversed(self.nodes), 0)
        self._top_node_id = max(self._top_node_id, last) + 1
        return self._top_node_id

    def take_back(self, refusal: Refusal) -> None:
        """Put the records of a batch the store refused back to the store's copy.

        Nothing of a refused change stays in memory: a job never stored goes, a
        job whose deletion was refused comes back, an edited job gets its stored
        fields and chunk states again (attempts no longer stored stop running),
        and the failure memory of those jobs is the stored one.
        """
        now = time.time()
        for job_id, stored in refusal.jobs.items():
            current = self.jobs.get(job_id)
            if current is not None:
                self._unlink(current)
            if stored is None:
                if current is not None:
                    self.on_remove(job_id)
                    log.warning("action=take_back job=%d; it was never stored", job_id)
                continue
            job = stored
            if current is not None:  # keep the object others hold
                for name in rows.STORED_FIELDS:
                    setattr(current, name, getattr(stored, name))
                current.recount()
                current.version += 1
                job = current
            self.jobs[job_id] = job
            self.index.update(job)
            for dep in job.depends_on:
                self.dependants.setdefault(dep.job_id, set()).add(job_id)
            for index in _indexes(job, CHUNK_RUNNING):
                node_id = job.chunk_nodes[index]
                self.running[(job_id, index)] = Running(node_id, job.chunk_attempts[index], now)
                self.job_nodes.setdefault(job_id, Counter())[node_id] += 1
                self.running_templates[job.template] += 1
            self.on_change(job)
            log.warning("action=take_back job=%d; back to its stored state", job_id)
        jobs = set(refusal.jobs)
        for table in (self.failed_on, self.memory_needed):
            for key in [key for key in table if key[0] in jobs]:
                del table[key]
        for key in [
            key for key in self.node_failures
            if key[0] in jobs or key[1] in refusal.failure_nodes
        ]:  # fmt: skip
            del self.node_failures[key]
        self.failed_on.update(refusal.failed_on)
        self.memory_needed.update(refusal.memory_needed)
        self.node_failures.update(refusal.node_failures)
        for node_id, stored_node in refusal.nodes.items():
            node = self.nodes.get(node_id)
            if stored_node is None:
                if node is not None and not node.online:
                    del self.nodes[node_id]
                continue
            if node is None:
                self.nodes[node_id] = stored_node
            else:
                for name in rows.NODE_FIELDS:
                    setattr(node, name, getattr(stored_node, name))

    def _number_tasks(self, floor: int, jobs: Iterable[Job]) -> None:
        """Set next_task_id past every task id in use, and number the tasks of jobs stored
        before tasks had global ids (recorded for the store)."""
        unnumbered = []
        top = floor
        for job in jobs:
            if job.task_ids:
                top = max(top, *(job.task_id(index) + 1 for index in _run_ends(job)))
            elif job.chunk_count:
                unnumbered.append(job)
        self.next_task_id = max(self.next_task_id, top)
        for job in unnumbered:
            self._new_tasks(job, [0], job.time_submitted)
            self.store.put_job(job)
        if unnumbered:
            self.store.put_meta("next_task_id", str(self.next_task_id))

    def _new_tasks(self, job: Job, runs: list[int], created: float) -> None:
        """Give chunks fresh task ids: one id run per entry of `runs` (first chunk index),
        each up to the next run or the last chunk."""
        for position, first in enumerate(runs):
            end = runs[position + 1] if position + 1 < len(runs) else job.chunk_count
            job.task_ids.append([first, self.next_task_id, created])
            self.next_task_id += end - first

    def _unlink(self, job: Job) -> None:
        """Drop a job from the queue's indexes (not from the scheduler's)."""
        self.jobs.pop(job.id, None)
        self.index.remove(job.id)
        self.job_nodes.pop(job.id, None)
        for key in [key for key in self.running if key[0] == job.id]:
            del self.running[key]
            self._released(job)
        for dep in job.depends_on:
            self.dependants.get(dep.job_id, set()).discard(job.id)

    # -- lookups -------------------------------------------------------------
    def get(self, key: int | str) -> Job:
        """A job by id, by UUID, or by title when `key` is neither (a UUID no job has is
        looked for as a title too)."""
        if isinstance(key, int) or key.isdecimal():
            job_id = key if isinstance(key, int) else parse_id(key)
            job = self.jobs.get(job_id) if job_id is not None else None
            if job is None:
                raise NotFound(f"no job with id {str(key)[:32]}")
            return job
        by_uuid = self.by_uuid(key)
        if by_uuid is not None:
            return by_uuid
        matches = [job for job in self.jobs.values() if job.title == key]
        if not matches:
            raise NotFound(f"no job titled {key!r}")
        if len(matches) > 1:
            ids = ", ".join(str(job.id) for job in matches)
            raise Conflict(f"{len(matches)} jobs are titled {key!r} (ids {ids}); use an id")
        return matches[0]

    def by_uuid(self, text: str) -> Job | None:
        """The job whose UUID `text` is (any case), or None."""
        canonical = parse_uuid(text)
        job_id = self.index.uuid.get(canonical) if canonical is not None else None
        return self.jobs.get(job_id) if job_id is not None else None

    def check_uuids(self, specs: Iterable[jobspec.JobSpec]) -> None:
        """Conflict when a spec's UUID is a queued job's, or two specs give the same one."""
        seen: set[str] = set()
        specs = list(specs)
        for position, spec in enumerate(specs):
            if spec.uuid is None:
                continue
            if spec.uuid in seen:
                raise Conflict(f"uuid: two jobs of this request have UUID {spec.uuid}")
            seen.add(spec.uuid)
            holder = self.index.uuid.get(spec.uuid)
            if holder is not None:
                where = f"job #{position}: " if len(specs) > 1 else ""
                raise Conflict(f"{where}uuid: job {holder} has UUID {spec.uuid} already")

    def unfinished_chunks(self) -> int:
        """Chunks queued or running in all jobs (what max_chunks_queued bounds). A done or
        failed job has none, so only the unfinished jobs of the state index are summed."""
        jobs = self.jobs
        return sum(
            jobs[key].counts[CHUNK_QUEUED] + jobs[key].counts[CHUNK_RUNNING]
            for state in (Status.QUEUED, Status.RUNNING, Status.PAUSED)
            for key in self.index.state.ids(state)
        )

    def queued_chunks(self) -> int:
        """Chunks waiting in unfinished jobs (paused ones included): the queue's depth."""
        jobs = self.jobs
        return sum(
            jobs[key].counts[CHUNK_QUEUED]
            for state in (Status.QUEUED, Status.RUNNING, Status.PAUSED)
            for key in self.index.state.ids(state)
        )

    def chunk(self, job: Job, index: int) -> int:
        if not 0 <= index < job.chunk_count:
            raise NotFound(f"job {job.id} has no chunk {index} (it has {job.chunk_count})")
        return index

    # -- submitting and editing ---------------------------------------------
    def submit(self, specs: list[jobspec.JobSpec], user: str) -> list[Job]:
        """Queue new jobs. All are checked before any is added."""
        self.store.ensure_writable()
        for position, spec in enumerate(specs):
            if spec.kind is JobKind.JOB:
                try:
                    logic.settle(spec, self.nodes.values())  # type: ignore[arg-type]
                except ValidationError as exc:
                    where = f"job #{position}: " if len(specs) > 1 else ""
                    raise ValidationError(f"{where}{exc}", field=exc.field) from None
        limits.check_chunks(
            [spec.chunk_count() for spec in specs], self.chunk_limits, self.unfinished_chunks()
        )
        self.check_uuids(specs)
        # The ids the jobs will get, in order: a job may wait for one before it (`submitted`).
        ids = [self.next_job_id + position for position in range(len(specs))]
        for position, spec in enumerate(specs):
            for dep in spec.dependencies(ids[:position]):
                if dep.job_id not in self.jobs and dep.job_id not in ids[:position]:
                    raise NotFound(f"depends_on: job {dep.job_id} does not exist (job #{position})")
            if spec.parent != -1:
                self._check_parent(None, spec.parent)
            for child in spec.children:
                if child not in self.jobs:
                    raise NotFound(f"children: job {child} does not exist (job #{position})")
                if child in spec.parents or child in {dep.job_id for dep in spec.dependencies()}:
                    raise ValidationError(
                        f"children: job {child} is also a parent (job #{position})",
                        field="children",
                    )
        jobs = []
        for position, spec in enumerate(specs):
            job = jobspec.build_job(
                spec, self.next_job_id, self.next_seq, user, earlier=ids[:position]
            )
            self.next_job_id += 1
            self.next_seq += 1
            if job.chunk_count:
                self._new_tasks(job, [0], job.time_submitted)
            self.jobs[job.id] = job
            self.index.update(job)
            for dep in job.depends_on:
                self.dependants.setdefault(dep.job_id, set()).add(job.id)
            self.store.put_job(job)
            jobs.append(job)
            log.info(
                "action=submit job=%d title=%r chunks=%d user=%s",
                job.id,
                job.title,
                job.chunk_count,
                job.user,
            )
        self.store.put_meta("next_job_id", str(self.next_job_id))
        self.store.put_meta("next_task_id", str(self.next_task_id))
        for spec, job in zip(specs, jobs, strict=True):
            self._adopt_children(job, spec.children)
        for job in jobs:
            self.on_change(job)
        return jobs

    def _adopt_children(self, job: Job, children: list[int]) -> None:
        """PyFarm's `children`: those jobs now wait for `job` to succeed."""
        for child_id in dict.fromkeys(children):
            child = self.jobs[child_id]
            if any(dep.job_id == job.id for dep in child.depends_on):
                continue
            child.depends_on.append(Dependency(job.id))
            child.version += 1
            self.dependants.setdefault(job.id, set()).add(child_id)
            self.store.put_job(child)
            self.on_change(child)
            log.info("action=depend job=%d on=%d", child_id, job.id)

    def _check_parent(self, job: Job | None, parent_id: int) -> None:
        """A parent must be an existing folder, and never the job itself or one of its
        descendants (two folders each inside the other would vanish from the tree)."""
        parent = self.jobs.get(parent_id)
        if parent is None:
            raise NotFound(f"parent: there is no job {parent_id}")
        if parent.kind is not JobKind.FOLDER:
            raise ValidationError(
                f"parent: job {parent_id} is a {parent.kind.value}, not a folder", field="parent"
            )
        if job is not None and within(self.jobs, parent_id, job.id):
            where = "the job itself" if parent_id == job.id else f"inside job {job.id}"
            raise ValidationError(
                f"parent: folder {parent_id} is {where}; a job cannot move into itself or "
                "its own subfolders",
                field="parent",
            )

    def edit(self, job: Job, changes: dict[str, object]) -> Job:
        """Change a job's fields. A job no longer in the queue (deleted meanwhile) is never
        written back: NotFound."""
        if self.jobs.get(job.id) is not job:
            raise NotFound(f"no job with id {job.id} (it was deleted)")
        self.store.ensure_writable()
        if "parent" in changes and changes["parent"] != -1:
            self._check_parent(job, int(str(changes["parent"])))
        frames = {name: changes.pop(name) for name in jobspec.FRAME_RANGE if name in changes}
        if frames and job.kind is not JobKind.JOB:
            raise ValidationError(f"{next(iter(frames))}: a folder has no frames", field="start")
        new_range = tuple(frames.get(name, getattr(job, name)) for name in jobspec.FRAME_RANGE)
        reframe = new_range != (job.start, job.end, job.by)
        if reframe and job.whole_range:
            name = next(iter(frames))
            raise ValidationError(
                f"{name}: a {job.logic} job's chunks are fixed at submit; its frames cannot "
                "change (submit a new job)",
                field=name,
            )
        if reframe:
            self._check_range(job, *new_range)  # type: ignore[arg-type]
        for name, value in changes.items():
            setattr(job, name, value)
        if reframe:
            self._reframe(job, *new_range)  # type: ignore[arg-type]
            changes.update(frames)
        job.version += 1  # (after the new frames too: what is built from it sees them)
        self.index.update(job)
        self.store.put_job(job)
        self.on_change(job)
        self.on_edited(job, changes)
        return job

    def _check_range(self, job: Job, start: Decimal, end: Decimal, by: Decimal) -> None:
        if by <= 0:
            raise ValidationError("by: must be positive", field="by")
        if end < start:
            raise ValidationError("end: the end frame is before the start frame", field="end")
        count = -(-frame_count(start, end, by) // job.batch)
        unfinished = job.counts[CHUNK_QUEUED] + job.counts[CHUNK_RUNNING]
        limits.check_chunks([count], self.chunk_limits, self.unfinished_chunks() - unfinished)

    def _reframe(self, job: Job, start: Decimal, end: Decimal, by: Decimal) -> None:
        """Give the job a new frame range: a chunk whose frames stay the same keeps its
        state, attempts and task id; chunks for new frames are queued with new task ids;
        chunks whose frames left the range are deleted (a running one is killed). A running
        chunk that would change its number is killed and queued again, so that no result
        ever lands on the wrong chunk."""
        old_count = job.chunk_count
        new_frames = _chunk_frames(start, end, by, job.batch)
        where = {frames: index for index, frames in enumerate(new_frames)}
        moves = {old: where.get(job.chunk_frames(old)) for old in range(old_count)}
        status = bytearray(job.chunk_status)
        for index in _indexes(job, CHUNK_RUNNING):  # kill what moves or goes, keep the rest
            if moves[index] != index:
                running = self.running.get((job.id, index))
                if running is not None:
                    self._end_running(job, index, running, "killed", None, "frame range edited")
                    self.on_kill(Ref(job.id, index, running.attempt), running.node_id)
                status[index] = CHUNK_QUEUED
        old_ids = [job.task_id(index) for index in range(old_count)]
        old_created = [job.task_created(index) for index in range(old_count)]
        attempts = job.chunk_attempts.tolist()
        nodes, failures = job.chunk_nodes.tolist(), bytes(job.chunk_failures)
        job.start, job.end, job.by = start, end, by
        job.init_chunks()
        now = time.time()
        ids: list[tuple[int, float]] = [(-1, now)] * job.chunk_count
        for old, index in moves.items():
            if index is None:
                continue
            job.chunk_status[index] = status[old]
            job.chunk_attempts[index] = attempts[old]
            job.chunk_nodes[index] = nodes[old]
            job.chunk_failures[index] = failures[old]
            ids[index] = (old_ids[old], old_created[old])
        for index in range(min(old_count, job.chunk_count)):  # fences late results by attempt
            job.chunk_attempts[index] = max(job.chunk_attempts[index], attempts[index])
        self._renumber(job, ids)
        for key in [key for key in self.failed_on.keys() | self.memory_needed.keys()
                    if key[0] == job.id]:  # fmt: skip
            nodes_failed = self.failed_on.pop(key, set())
            needed = self.memory_needed.pop(key, 0)
            self.store.forget_chunk_failures(*key)
            new_index = moves.get(key[1])
            if new_index is not None:
                if nodes_failed:
                    self.failed_on[(job.id, new_index)] = nodes_failed
                if needed:
                    self.memory_needed[(job.id, new_index)] = needed
                self.store.put_chunk_failures(job.id, new_index, nodes_failed, needed)
        job.recount()
        if not job.finished:
            job.time_finished = None
        elif job.time_finished is None and job.chunk_count:
            job.time_finished = now
        self.store.put_meta("next_task_id", str(self.next_task_id))
        self._changed_dependants(job)
        log.info(
            "action=reframe job=%d start=%s end=%s by=%s chunks=%d->%d",
            job.id, start, end, by, old_count, job.chunk_count,
        )  # fmt: skip

    def _renumber(self, job: Job, ids: list[tuple[int, float]]) -> None:
        """Task id runs from each chunk's (task id, created), -1 for a new task."""
        runs: list[list[float]] = []
        last_id, last_created = -2, -1.0
        for index, (task_id, created) in enumerate(ids):
            if task_id < 0:
                task_id = self.next_task_id
                self.next_task_id += 1
            if not (task_id == last_id + 1 and created == last_created):
                runs.append([index, task_id, created])
            last_id, last_created = task_id, created
        job.task_ids = runs

    # -- failed on agents ----------------------------------------------------
    def add_failed_on(self, job: Job, index: int, node_id: int) -> None:
        """Record that a chunk failed on a node: its retries avoid that node while another
        can run it (as after a failed attempt there)."""
        self.store.ensure_writable()
        key = (job.id, self.chunk(job, index))
        failed_on = self.failed_on.setdefault(key, set())
        failed_on.add(node_id)
        self.store.put_chunk_failures(job.id, index, failed_on, self.memory_needed.get(key, 0))
        self.on_change(job)

    def remove_failed_on(self, job: Job, index: int, node_id: int) -> None:
        """Drop a node from the nodes a chunk failed on (its retries no longer avoid it)."""
        self.store.ensure_writable()
        key = (job.id, self.chunk(job, index))
        failed_on = self.failed_on.get(key, set())
        failed_on.discard(node_id)
        needed = self.memory_needed.get(key, 0)
        if failed_on or needed:
            self.store.put_chunk_failures(job.id, index, failed_on, needed)
        else:
            self.failed_on.pop(key, None)
            self.store.forget_chunk_failures(*key)
        self.on_change(job)

    def refresh(self, job: Job) -> Job:
        """Recount the job from its chunks, record it and let the scheduler (and the
        hooks' held verdicts) look at it again."""
        job.recount()
        job.version += 1  # (a pool rename changes the fields before this call)
        self.index.update_state(job)
        self.store.put_job(job)
        self.on_change(job)
        return job

    def pause(self, job: Job) -> Job:
        return self.edit(job, {"paused": True})

    def resume(self, job: Job) -> Job:
        return self.edit(job, {"paused": False})

    def delete(self, job: Job) -> None:
        """Remove a job; its running attempts are killed and their results ignored."""
        self.store.ensure_writable()
        if job.kind is JobKind.FOLDER and self.index.parent.ids(job.id):
            raise Conflict(f"folder {job.id} is not empty")
        self._kill_running(job)
        del self.jobs[job.id]
        self.index.remove(job.id)
        self.job_nodes.pop(job.id, None)
        for dep in job.depends_on:
            self.dependants.get(dep.job_id, set()).discard(job.id)
        self.store.delete_job(job.id)
        self.on_remove(job.id)
        for dependant in self.dependants.pop(job.id, set()):
            if dependant in self.jobs:
                self.on_change(self.jobs[dependant])
        self.forget_chunk_failures(job.id)
        self.on_deleted(job)
        log.info("action=delete job=%d", job.id)

    def reinit(self, job: Job) -> Job:
        """Queue every chunk again. Attempt numbers keep counting, so late results stay fenced."""
        self.store.ensure_writable()
        self._kill_running(job)
        attempts = job.chunk_attempts
        job.init_chunks()
        job.chunk_attempts = attempts
        job.time_started = job.time_finished = None
        job.failed_reason = ""
        self.index.update_state(job)
        self.store.put_job(job)
        self.on_change(job)
        self._changed_dependants(job)
        self.forget_chunk_failures(job.id)
        self.on_reinit(job)
        log.info("action=reinit job=%d", job.id)
        return job

    def replace_all(self, jobs: list[Job]) -> None:
        """Swap the whole queue for `jobs` (a checked snapshot import), as one batch.

        Running attempts are killed; the new jobs' chunks that were running are
        queued again, keeping their attempt numbers so late results stay fenced.
        """
        self.store.ensure_writable()
        for job in list(self.jobs.values()):
            self._kill_running(job)
        for job_id in list(self.jobs):
            self.store.delete_job(job_id)
            self.on_remove(job_id)
            self.forget_chunk_failures(job_id)
        self.jobs.clear()
        self.index.clear()
        self.job_nodes.clear()
        self.dependants.clear()
        for job in jobs:
            for index, code in enumerate(job.chunk_status):
                if code == CHUNK_RUNNING:
                    job.set_chunk(index, CHUNK_QUEUED)
            self.jobs[job.id] = job
            self.index.update(job)
            for dep in job.depends_on:
                self.dependants.setdefault(dep.job_id, set()).add(job.id)
            self.store.put_job(job)
        self.next_job_id = max([self.next_job_id, *[job.id + 1 for job in jobs]])
        self.next_seq = max([self.next_seq, *[job.seq + 1 for job in jobs]])
        self.store.put_meta("next_job_id", str(self.next_job_id))
        self._number_tasks(self.next_task_id, jobs)
        self.store.put_meta("next_task_id", str(self.next_task_id))
        for job in jobs:
            self.on_change(job)
        log.info("action=queue_replaced jobs=%d", len(jobs))

    def set_chunk_status(self, job: Job, index: int, status: Status) -> None:
        """Muster's chunkSetStatus: queued (requeue), skipped or done (complete)."""
        self.store.ensure_writable()
        if status not in (Status.QUEUED, Status.SKIPPED, Status.DONE):
            raise ValidationError(
                f"status: a chunk can be set to queued, skipped or done, not {status}"
            )
        self.chunk(job, index)
        if job.chunk_status[index] == CHUNK_RUNNING:
            running = self.running[(job.id, index)]
            self._end_running(
                job, index, running, "killed", None, f"set to {status} by an operator"
            )
            self.on_kill(Ref(job.id, index, running.attempt), running.node_id)
        job.set_chunk(index, CHUNK_CODE[status])
        self.forget_chunk_failures(job.id, index)
        if status is Status.QUEUED:
            job.chunk_failures[index] = 0
        self._after_chunk_change(job, index=index)  # (a finished job's row: unfinished)

    def _kill_running(self, job: Job) -> None:
        for index in _indexes(job, CHUNK_RUNNING):
            running = self.running.get((job.id, index))
            if running is None:
                continue
            self._end_running(job, index, running, "killed", None, "job deleted or reinitialised")
            job.set_chunk(index, CHUNK_QUEUED)
            self.on_kill(Ref(job.id, index, running.attempt), running.node_id)

    # -- attempts ------------------------------------------------------------
    def start_attempt(self, job: Job, index: int, node_id: int) -> Ref:
        """Assign a queued chunk to a node: a new attempt number, recorded for the store."""
        now = time.time()
        attempt = job.chunk_attempts[index] + 1
        job.chunk_attempts[index] = attempt
        job.chunk_nodes[index] = node_id
        job.set_chunk(index, CHUNK_RUNNING)
        if job.counts[CHUNK_RUNNING] == 1:  # (with others running its state stays as it was)
            self.index.update_state(job)
        self.running[(job.id, index)] = Running(node_id, attempt, now)
        counter = self.job_nodes.get(job.id)
        if counter is None:  # (setdefault would build a Counter on every call)
            counter = self.job_nodes[job.id] = Counter()
        counter[node_id] = counter.get(node_id, 0) + 1  # (no Counter.__missing__ call)
        self.running_templates[job.template] += 1
        if job.time_started is None:
            job.time_started = now
            self.store.put_job(job)
            self.on_started(job)
        else:
            self.store.put_chunks(job, index)
        self.store.put_run((job.id, index, attempt), node_id, "running", now)
        self.on_progress(job)
        return Ref(job.id, index, attempt)

    def is_current(self, ref: Ref, node_id: int | None = None) -> bool:
        """True when `ref` is the running attempt of its chunk (on `node_id`, if given)."""
        running = self.running.get((ref.job, ref.chunk))
        if running is None or running.attempt != ref.attempt:
            return False
        return node_id is None or running.node_id == node_id

    def finish_attempt(self, result: Result, node_id: int, *, settle_later: bool = False) -> bool:
        """Record a result. Only the current attempt counts; others are logged and dropped.

        `settle_later` (the render clients' results, in a running loop): the job's change
        is recorded for the store now and announced to the scheduler, hooks and progress
        once per job at the end of the loop tick (`settle`), however many of its chunks
        ended in it."""
        ref = result.ref
        running = self.running.get((ref.job, ref.chunk))
        if running is None or running.attempt != ref.attempt or running.node_id != node_id:
            log.warning(
                "action=stale_result job=%d chunk=%d attempt=%d node=%d; dropped",
                ref.job, ref.chunk, ref.attempt, node_id,
            )  # fmt: skip
            return False
        job = self.jobs[ref.job]
        actions = _NO_ACTIONS if result.ok or result.killed else set(result.actions)
        if result.ok:
            state = "done"
            job.set_chunk(ref.chunk, CHUNK_DONE)
            if self.failed_on or self.memory_needed:  # (none remembered: the usual case)
                self.forget_chunk_failures(job.id, ref.chunk)
        else:
            state = "killed" if result.killed else "failed"
            requeue = "requeue_chunk" in actions and "abort_render" not in actions
            self._count_failure(job, ref.chunk, node_id, counts=not result.killed and not requeue)
            if result.oom:
                self._needs_more_memory(ref, result)
            if "abort_render" in actions and job.chunk_status[ref.chunk] != CHUNK_FAILED:
                # The template aborted the render: no more retries of this chunk.
                job.set_chunk(ref.chunk, CHUNK_FAILED)
                job.failed_reason = f"chunk {ref.chunk} aborted by its template"
            if job.chunk_status[ref.chunk] == CHUNK_FAILED and result.error:
                job.failed_reason += f" (last: {result.error})"
        outcome = (result.frames_done, result.warnings, result.errors)
        self._end_running(
            job, ref.chunk, running, state, result.exit_code, result.error, result.finished,
            outcome,
        )  # fmt: skip
        if actions:
            self._template_actions(job, ref, node_id, actions)
        level = logging.DEBUG if state == "done" else logging.INFO  # (docs/cli.md)
        if log.isEnabledFor(level):  # (a record not logged: no call with its arguments)
            log.log(
                level, "action=chunk_%s job=%d chunk=%d attempt=%d node=%d exit=%s",
                state, ref.job, ref.chunk, ref.attempt, node_id, result.exit_code,
            )  # fmt: skip
        self._after_chunk_change(job, settle_later, ref.chunk)
        return True

    def _template_actions(self, job: Job, ref: Ref, node_id: int, actions: set[str]) -> None:
        """What a failed attempt's template asked beyond the chunk itself: keep the
        node off the job, pause the job (docs/templates.md, "Errors")."""
        log.warning(
            "action=template_actions job=%d chunk=%d attempt=%d node=%d actions=%s",
            ref.job, ref.chunk, ref.attempt, node_id, ",".join(sorted(actions)),
        )  # fmt: skip
        node = self.nodes.get(node_id)
        if "exclude_node" in actions and node is not None and job.id not in node.excluded_jobs:
            node.excluded_jobs.add(job.id)
            self.store.put_node(node)
            log.warning("action=exclude node=%d job=%d reason=template", node_id, job.id)
        if "pause_job" in actions and not job.paused and not job.finished:
            self.pause(job)

    def progress(self, ref: Ref, node_id: int, percent: float, frames_done: int | None) -> bool:
        """A running attempt's progress as its render client reads it; kept in memory
        only (the result records the frames done). False for an attempt not running."""
        if not self.is_current(ref, node_id):
            return False
        running = self.running[(ref.job, ref.chunk)]
        running.percent = percent
        if frames_done is not None:
            running.frames_done = frames_done
        self.reporting.setdefault(ref.job, set()).add(ref.chunk)
        job = self.jobs.get(ref.job)
        if job is not None:
            self.on_progress(job)
        return True

    def chunks_progress(self, job_id: int) -> dict[str, float]:
        """The percent of each running chunk of a job that reported progress, by index."""
        found = {}
        for index in self.reporting.get(job_id, ()):
            running = self.running.get((job_id, index))
            if running is not None and running.percent is not None:
                found[str(index)] = round(running.percent, 2)
        return found

    def running_progress(self, job_id: int, index: int) -> tuple[float, int] | None:
        """(percent, frames done) of a running chunk that reported progress, else None."""
        running = self.running.get((job_id, index))
        if running is None or running.percent is None:
            return None
        return running.percent, running.frames_done

    def requeue_attempt(self, ref: Ref, reason: str) -> bool:
        """Give a chunk whose attempt was lost (node lost, not reported) a new attempt."""
        if not self.is_current(ref):
            return False
        job = self.jobs[ref.job]
        running = self.running[(ref.job, ref.chunk)]
        self._end_running(job, ref.chunk, running, "lost", None, reason)
        job.set_chunk(ref.chunk, CHUNK_QUEUED)
        log.warning(
            "action=requeue job=%d chunk=%d attempt=%d reason=%r",
            ref.job,
            ref.chunk,
            ref.attempt,
            reason,
        )
        self._after_chunk_change(job, index=ref.chunk)
        return True

    def _needs_more_memory(self, ref: Ref, result: Result) -> None:
        """After an out-of-memory kill the retry needs more than the node offered."""
        needed = max(result.memory_available_bytes + 1, result.peak_memory_bytes)
        key = (ref.job, ref.chunk)
        self.memory_needed[key] = max(self.memory_needed.get(key, 0), needed)
        self.store.put_chunk_failures(
            ref.job, ref.chunk, self.failed_on.get(key, set()), self.memory_needed[key]
        )
        log.warning(
            "action=oom job=%d chunk=%d attempt=%d retry_needs_mb=%d",
            ref.job,
            ref.chunk,
            ref.attempt,
            self.memory_needed[key] // (1024 * 1024),
        )

    def forget_chunk_failures(self, job_id: int, index: int | None = None) -> None:
        """Drop what failed attempts taught (one chunk, or every chunk of the job)."""
        if not self.failed_on and not self.memory_needed:  # the usual case, on every result
            return
        if index is not None:  # (a lookup, not a set of every remembered chunk per result)
            key = (job_id, index)
            keys = {key} if key in self.failed_on or key in self.memory_needed else set()
        else:
            keys = {key for table in (self.failed_on, self.memory_needed) for key in table
                    if key[0] == job_id}  # fmt: skip
        for key in keys:
            self.failed_on.pop(key, None)
            self.memory_needed.pop(key, None)
            self.store.forget_chunk_failures(*key)

    def forget_node_failures(self, node_id: int, job_id: int | None = None) -> None:
        """Reset a node's failure counts (of one job, or of all) after its exclusion is purged."""
        for key in [key for key in self.node_failures if key[1] == node_id]:
            if job_id is None or key[0] == job_id:
                del self.node_failures[key]
        self.store.forget_node_failures(node_id, job_id)

    def _count_failure(self, job: Job, index: int, node_id: int, *, counts: bool) -> None:
        if not counts:
            job.set_chunk(index, CHUNK_QUEUED)
            return
        self.failed_attempts += 1
        job.chunk_failures[index] = min(255, job.chunk_failures[index] + 1)
        if job.chunk_failures[index] > job.requeue:
            job.set_chunk(index, CHUNK_FAILED)
            job.failed_reason = f"chunk {index} failed {job.chunk_failures[index]} times"
        else:
            job.set_chunk(index, CHUNK_QUEUED)
        failed_on = self.failed_on.setdefault((job.id, index), set())
        failed_on.add(node_id)
        self.store.put_chunk_failures(
            job.id, index, failed_on, self.memory_needed.get((job.id, index), 0)
        )
        key = (job.id, node_id)
        self.node_failures[key] += 1
        self.store.put_node_failures(job.id, node_id, self.node_failures[key])
        node = self.nodes.get(node_id)
        if (
            node is not None
            and self.node_failures[key] >= self.exclude_after_failures
            and job.id not in node.excluded_jobs
        ):
            node.excluded_jobs.add(job.id)
            self.store.put_node(node)
            log.warning(
                "action=exclude node=%d job=%d failures=%d",
                node_id,
                job.id,
                self.node_failures[key],
            )

    def _end_running(
        self,
        job: Job,
        index: int,
        running: Running,
        state: str,
        exit_code: int | None,
        error: str,
        finished: float | None = None,
        outcome: tuple[int, int, int] = (0, 0, 0),
    ) -> None:
        del self.running[(job.id, index)]
        reporting = self.reporting.get(job.id)
        if reporting is not None:
            reporting.discard(index)
            if not reporting:
                del self.reporting[job.id]
        self._released(job)
        counter = self.job_nodes.get(job.id)
        if counter is not None:
            left = counter[running.node_id] - 1
            if left > 0:
                counter[running.node_id] = left
            else:
                counter.pop(running.node_id, None)
        ref = (job.id, index, running.attempt)
        self.store.put_run(
            ref, running.node_id, state, running.started, finished or time.time(), exit_code,
            error, outcome,
        )  # fmt: skip

    def _released(self, job: Job) -> None:
        left = self.running_templates[job.template] - 1
        if left > 0:
            self.running_templates[job.template] = left
        else:
            self.running_templates.pop(job.template, None)
        self.on_released(job)

    def _after_chunk_change(
        self, job: Job, settle_later: bool = False, index: int | None = None
    ) -> None:
        """After a change of the job's chunks (of chunk `index` only, when given)."""
        self.index.update_state(job)
        was_finished = job.time_finished is not None
        if job.finished and job.chunk_count and not was_finished:
            job.time_finished = time.time()
            self.store.put_job(job)
            log.info("action=job_%s job=%d", job.state.value, job.id)
            self.on_finished(job)
        else:
            if was_finished and not job.finished:
                job.time_finished = None
                self.store.put_job(job)
            self.store.put_chunks(job, index)
        if settle_later:
            if not self._unsettled:
                asyncio.get_running_loop().call_soon(self.settle)
            self._unsettled[job.id] = job
            return
        self._announce(job)

    def _announce(self, job: Job) -> None:
        self.on_change(job)
        self._changed_dependants(job)
        self.on_progress(job)

    def settle(self) -> None:
        """Announce the changes `finish_attempt(settle_later=True)` recorded: once per job
        still in the queue. The scheduler calls it before a pass; a loop callback after
        the results of a tick calls it too (a second call finds nothing)."""
        if not self._unsettled:
            return
        jobs, self._unsettled = self._unsettled, {}
        for job_id, job in jobs.items():
            if self.jobs.get(job_id) is not job:  # deleted (or replaced) since
                continue
            try:
                self._announce(job)
            except Exception:  # one job's listener must not keep the others unannounced
                log.exception("action=settle_failed job=%d", job_id)

    def _changed_dependants(self, job: Job) -> None:
        for dependant in self.dependants.get(job.id, ()):
            other = self.jobs.get(dependant)
            if other is not None:
                self.on_change(other)

    # -- dependencies --------------------------------------------------------
    def blocking_dependencies(self, job: Job) -> list[str]:
        """Why the job's whole-job dependencies hold it back; empty when they do not."""
        reasons = []
        for dep in job.depends_on:
            other = self.jobs.get(dep.job_id)
            if other is None or (job.per_frame and dep.mode is DependMode.SUCCESS):
                continue
            state = other.state
            if not _dependency_met(state, dep.mode):
                why = f": {other.failed_reason}" if state is Status.FAILED else ""
                reasons.append(
                    f"waits for job {other.id} to end with {dep.mode.value} "
                    f"(it is {state.value}{why})"
                )
        return reasons

    def chunk_dependencies_met(self, job: Job, index: int) -> bool:
        """Per-frame waits: every frame of this chunk that a dependency renders must be done."""
        return frame_waits.dependencies_met(job, index, self.jobs)

    def runs_on(self, node_id: int) -> list[Ref]:
        running = self.running
        return [Ref(key[0], key[1], running[key].attempt) for key in running.on_node(node_id)]


def _dependency_met(state: Status, mode: DependMode) -> bool:
    if mode is DependMode.SUCCESS:
        return state is Status.DONE
    if mode is DependMode.FAILURE:
        return state is Status.FAILED
    return state in (Status.DONE, Status.FAILED)


def _run_ends(job: Job) -> list[int]:
    """The last chunk index of each task id run."""
    firsts = [int(run[0]) for run in job.task_ids]
    return [end - 1 for end in [*firsts[1:], job.chunk_count] if end > 0]


def _chunk_frames(
    start: Decimal, end: Decimal, by: Decimal, batch: int
) -> list[tuple[Decimal, Decimal]]:
    """The first and last frame of each chunk of a range, as Job.chunk_frames gives them."""
    frames = frame_count(start, end, by)
    return [
        (start + first * by, start + min(first + batch - 1, frames - 1) * by)
        for first in range(0, frames, batch)
    ]


def _indexes(job: Job, code: int) -> list[int]:
    found = []
    index = job.chunk_status.find(code)
    while index >= 0:
        found.append(index)
        index = job.chunk_status.find(code, index + 1)
    return found


__all__ = ["Queue", "Running", "CHUNK_SKIPPED", "CHUNK_FAILED"]
