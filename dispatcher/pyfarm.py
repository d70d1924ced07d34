"""PyFarm's shapes of jobs and tasks: the REST answers of /api/v1/jobs/ carry every field
of PyFarm's master API with PyFarm's types, beside Corral's own fields.

A PyFarm *task* is a Corral chunk: `id` is its global task id (Job.task_ids), `chunk`
its 0-based number within the job, `frame` the first frame it renders (with `start`
and `end` its whole range when it holds several frames).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from dispatcher.model import CHUNK_FAILED, CHUNK_STATUS, Job, Node
from dispatcher.views import (
    KIND_TEXT,
    MODE_TEXT,
    STATUS_TEXT,
    chunk_counts,
    iso,
    job_progress,
    outcome_fields,
)

# PyFarm's job schema answer (GET /api/v1/jobs/schema): its column types.
SCHEMA: dict[str, str] = {
    "batch": "INTEGER",
    "by": "NUMERIC(10, 4)",
    "cpus": "INTEGER",
    "data": "JSONDict",
    "end": "NUMERIC(10,4)",
    "environ": "JSONDict",
    "hidden": "BOOLEAN",
    "id": "INTEGER",
    "jobtype": "VARCHAR(64)",
    "jobtype_version": "INTEGER",
    "jobqueue": "VARCHAR(255)",
    "notes": "TEXT",
    "priority": "INTEGER",
    "project_id": "INTEGER",
    "ram": "INTEGER",
    "ram_max": "INTEGER",
    "ram_warning": "INTEGER",
    "requeue": "INTEGER",
    "start": "NUMERIC(10,4)",
    "state": "WorkStateEnum",
    "time_finished": "DATETIME",
    "time_started": "DATETIME",
    "time_submitted": "DATETIME",
    "title": "VARCHAR(255)",
    "user": "VARCHAR(255)",
}

Run = tuple[Any, ...]  # a store run row: job, chunk, attempt, node, state, started, finished, ...


_TEXTS: dict[float, str | None] = {}  # timestamp -> its time_text (a page shows the same ones)


def time_text(timestamp: float | None) -> str | None:
    """PyFarm's time format: UTC without an offset, with microseconds
    ("2014-03-06T15:40:58.335259"). Each timestamp is formatted once: a console polling
    the job list asks for the same submit, start and finish times again and again."""
    if timestamp is None:
        return None
    text = _TEXTS.get(timestamp)
    if text is None:
        if len(_TEXTS) >= 65_536:
            _TEXTS.clear()
        text = _TEXTS[timestamp] = _pyfarm_text(iso(timestamp))
    return text


def _pyfarm_text(text: str | None) -> str | None:
    """An ISO text of `iso()` in PyFarm's format (see time_text)."""
    if text is None:
        return None
    text = text.removesuffix("+00:00")
    return text if "." in text else f"{text}.000000"


def _ref(job: Job | None, job_id: int) -> dict[str, Any]:
    return {"id": job_id, "title": job.title if job is not None else None}


def job_answer(job: Job, jobs: Mapping[int, Job], children: Iterable[int] = ()) -> dict[str, Any]:
    """A job as PyFarm's API shows it (Corral's own fields stay beside PyFarm's).

    `children` are the ids of the jobs that depend on this one. The answer holds every
    field of `job_view` in the same order (PyFarm's types where they differ: frames as
    floats, times without an offset, `environ` and `project` None when empty), then
    PyFarm's own fields. It is built in one step from the job's fields and counters (a
    console polls pages of a hundred): the tests pin it to `job_view`'s fields."""
    depends_on, task_ids, pools = job.depends_on, job.task_ids, job.pools
    software, tags = job.software_requirements, job.tag_requirements
    # (An empty list is made without running a comprehension: most jobs have no
    # dependency, requirement or dependant, and a page builds a hundred answers.)
    return {
        "id": job.id,
        "title": job.title,
        "user": job.user,
        "kind": KIND_TEXT[job.kind],
        "parent": job.parent,
        "template": job.template,
        "priority": job.priority,
        "paused": job.paused,
        "start": float(job.start),
        "end": float(job.end),
        "by": float(job.by),
        "batch": job.batch,
        "pools": pools,
        "excluded_pools": job.excluded_pools,
        "max_nodes": job.max_nodes,
        "depends_on": [{"job": dep.job_id, "mode": MODE_TEXT[dep.mode]} for dep in depends_on]
        if depends_on
        else [],
        "per_frame": job.per_frame,
        "requeue": job.requeue,
        "time_limit_s": job.time_limit_s,
        "memory_mb": job.memory_mb,
        "environ": job.environ or None,
        "notes": job.notes,
        "data": job.data,
        "command": job.command,
        "project": job.project or None,
        "department": job.department,
        "logic": job.logic,
        "hosts": job.hosts,
        "slices": job.slices,
        "subst": job.subst,
        "state": STATUS_TEXT[job.state],
        "time_submitted": time_text(job.time_submitted),
        "time_started": time_text(job.time_started),
        "time_finished": time_text(job.time_finished),
        "chunks": chunk_counts(job),
        "progress": job_progress(job),
        "failed_reason": job.failed_reason,
        "uuid": job.uuid,
        "jobtype": job.jobtype or job.template,
        "jobtype_version": job.jobtype_version,
        "jobqueue": pools[0] if pools else None,
        "tags": list(job.tags),
        "ram": job.memory_mb,
        "ram_warning": job.ram_warning,
        "ram_max": job.ram_max,
        "cpus": job.cpus,
        "hidden": job.hidden,
        "project_id": job.project_id,
        "software_requirements": [dict(item) for item in software] if software else [],
        "tag_requirements": [dict(item) for item in tags] if tags else [],
        "parents": [_ref(jobs.get(dep.job_id), dep.job_id) for dep in depends_on]
        if depends_on
        else [],
        "children": [_ref(jobs.get(child), child) for child in sorted(children)]
        if children
        else [],
        "tasks_failed": _failed_task_ids(job),
        "task_ids": [[int(first), int(base)] for first, base, _ in task_ids] if task_ids else [],
    }


def _failed_task_ids(job: Job) -> list[int]:
    """The task ids of the job's failed chunks, ascending by chunk: none without a look at
    the chunks when the counters say none failed; else each failed chunk's id from the
    run of task ids it falls in (Job.task_id), the runs walked once."""
    if not job.counts[CHUNK_FAILED]:
        return []
    status, runs = job.chunk_status, job.task_ids
    found: list[int] = []
    position, base = -1, -1  # the run the last chunk fell in, and its id less its first index
    index = status.find(CHUNK_FAILED)
    while index >= 0:
        while position + 1 < len(runs) and runs[position + 1][0] <= index:
            position += 1
            base = int(runs[position][1]) - int(runs[position][0])
        found.append(base + index if position >= 0 else -1)
        index = status.find(CHUNK_FAILED, index + 1)
    return found


def task_views(
    job: Job,
    indexes: Iterable[int],
    nodes: Mapping[int, Node],
    latest: Mapping[int, Run],
    live: Callable[[int, int], tuple[float, int] | None] | None = None,
) -> list[dict[str, Any]]:
    """Tasks as PyFarm shows them, with Corral's chunk fields; `latest` holds each chunk's
    last attempt (its times, exit code, error and outcome), `live(job, chunk)` a running
    chunk's reported (percent, frames done)."""
    ref = {"id": job.id, "title": job.title}
    views = []
    for index in indexes:
        if index >= job.chunk_count:
            continue
        first, last = job.chunk_frames(index)
        node = nodes.get(job.chunk_nodes[index])
        run = latest.get(index)
        views.append({
            "id": job.task_id(index), "chunk": index, "job_id": job.id, "job": ref,
            "state": CHUNK_STATUS[job.chunk_status[index]].value,
            "frame": float(first), "start": float(first), "end": float(last),
            "attempts": job.chunk_attempts[index], "failures": job.chunk_failures[index],
            "agent_id": node.uuid if node is not None else None,
            "agent": {"id": node.uuid, "hostname": node.label} if node is not None else None,
            "node_id": node.id if node is not None else None,
            "node": node.label if node is not None else None,
            "priority": job.priority, "hidden": job.hidden,
            "project_id": job.project_id, "project": job.project or None,
            "parents": [], "children": [],
            "time_submitted": time_text(job.task_created(index)),
            "time_started": time_text(run[5]) if run else None,
            "time_finished": time_text(run[6]) if run else None,
            "exit_code": run[7] if run else None, "error": run[8] if run else "",
        })  # fmt: skip
        state = views[-1]["state"]
        views[-1].update(outcome_fields(state, run, live(job.id, index) if live else None))
    return views


def agent_view(node: Node) -> dict[str, Any]:
    """A render node as PyFarm's failed_on_agents lists it."""
    return {"id": node.uuid, "hostname": node.label}
