"""PyFarm's shapes of jobs and tasks: the REST answers of /api/v1/jobs/ carry every field
of PyFarm's master API with PyFarm's types, beside Corral's own fields.

A PyFarm *task* is a Corral chunk: `id` is its global task id (Job.task_ids), `chunk`
its 0-based number within the job, `frame` the first frame it renders (with `start`
and `end` its whole range when it holds several frames).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from dispatcher.model import CHUNK_STATUS, Job, Node
from dispatcher.views import iso, job_view, outcome_fields

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


def time_text(timestamp: float | None) -> str | None:
    """PyFarm's time format: UTC without an offset, with microseconds
    ("2014-03-06T15:40:58.335259")."""
    return _pyfarm_text(iso(timestamp))


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

    `children` are the ids of the jobs that depend on this one."""
    view = job_view(job)
    failed = [job.task_id(index) for index in _failed(job)]
    view.update(
        start=float(job.start),
        end=float(job.end),
        by=float(job.by),
        environ=job.environ or None,
        jobtype=job.jobtype or job.template,
        jobtype_version=job.jobtype_version,
        jobqueue=job.pools[0] if job.pools else None,
        tags=list(job.tags),
        ram=job.memory_mb,
        ram_warning=job.ram_warning,
        ram_max=job.ram_max,
        cpus=job.cpus,
        hidden=job.hidden,
        project_id=job.project_id,
        project=job.project or None,
        software_requirements=[dict(item) for item in job.software_requirements],
        tag_requirements=[dict(item) for item in job.tag_requirements],
        parents=[_ref(jobs.get(dep.job_id), dep.job_id) for dep in job.depends_on],
        children=[_ref(jobs.get(child), child) for child in sorted(children)],
        tasks_failed=failed,
        task_ids=[[int(first), int(base)] for first, base, _ in job.task_ids],
        # The view's own ISO texts, in PyFarm's format (each time formatted once).
        time_submitted=_pyfarm_text(view["time_submitted"]),
        time_started=_pyfarm_text(view["time_started"]),
        time_finished=_pyfarm_text(view["time_finished"]),
    )
    return view


def _failed(job: Job) -> list[int]:
    found, index = [], job.chunk_status.find(3)  # CHUNK_FAILED
    while index >= 0:
        found.append(index)
        index = job.chunk_status.find(3, index + 1)
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
