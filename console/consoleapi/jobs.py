"""MConsoleAPI: the jobs and chunks functions, over the REST job, folder and chunk routes."""

from __future__ import annotations

from typing import Any

from console.consoleapi.transport import bad_argument, call, get, get_all, segment, send, submit
from corral_client import Client
from hooks.api.link import as_int
from hooks.api.objects import MChunk, MJob
from hooks.api.submission import submission_item

__all__ = [
    "chunkGet",
    "chunkGetList",
    "chunkSetStatus",
    "jobAddFolder",
    "jobDelete",
    "jobEdit",
    "jobGet",
    "jobGetList",
    "jobReinit",
    "jobReparent",
    "jobSubmit",
    "jobUpdate",
    "jobUpdateStatus",
]

_NONE: tuple[Any, ...] = ()
_ONE: tuple[Any, ...] = (None,)
_LIST: tuple[Any, ...] = ([],)

_CHUNK_STATUSES = {
    MChunk.kChunkQueued: "queued",
    MChunk.kChunkDone: "done",
    MChunk.kChunkSkipped: "skipped",
}

# The fields of a job's API form (dispatcher/views.py job_view), which MJob wraps.
_VIEW_FIELDS = (
    "id", "title", "user", "kind", "parent", "template", "priority", "paused", "start", "end",
    "by", "batch", "pools", "excluded_pools", "max_nodes", "depends_on", "per_frame", "requeue",
    "time_limit_s", "memory_mb", "environ", "notes", "data", "command", "project", "department",
    "logic", "hosts", "slices", "subst", "state", "time_submitted", "time_started",
    "time_finished", "chunks", "progress", "failed_reason", "uuid",
)  # fmt: skip


def _number(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _time(value: Any) -> Any:
    """PyFarm's UTC time text back in the API form (ISO with its +00:00 offset)."""
    if not isinstance(value, str):
        return value
    return value.removesuffix(".000000") + "+00:00"


def job_form(answer: dict[str, Any]) -> dict[str, Any]:
    """A REST job answer (PyFarm's shape) as the API form MDispatcherAPI's MJob wraps."""
    form = {name: answer.get(name) for name in _VIEW_FIELDS if name in answer}
    for name in ("start", "end", "by"):
        form[name] = _number(form.get(name))
    form["environ"] = form.get("environ") or {}
    form["project"] = form.get("project") or ""
    for name in ("time_submitted", "time_started", "time_finished"):
        form[name] = _time(form.get(name))
    return form


def _job(answer: dict[str, Any]) -> MJob:
    return MJob.adopt(job_form(answer))


def _action(function: str, job_id: object, action: str) -> Any:
    number = as_int(job_id)
    if number is None:
        return bad_argument(function, f"a job id must be an int, not {job_id!r}", _NONE)

    def work(client: Client) -> tuple[Any, ...]:
        send(client, "POST", f"/jobs/{number}/actions/{action}")
        return ()

    return call(function, _NONE, work)


def jobGetList() -> Any:
    """`err, jobs`: every job and folder of the queue as MJob objects."""
    return call(
        "jobGetList", _LIST, lambda client: ([_job(view) for view in get_all(client, "/jobs/")],)
    )


def jobGet(id: int) -> Any:
    """`err, job`: one job of the queue."""
    number = as_int(id)
    if number is None:
        return bad_argument("jobGet", f"a job id must be an int, not {id!r}", _ONE)
    return call("jobGet", _ONE, lambda client: (_job(get(client, f"/jobs/{number}")),))


def jobReparent(id: int, newParentID: int) -> Any:
    """`err`: move a job into the folder `newParentID` (-1: the top)."""
    number, parent = as_int(id), as_int(newParentID)
    if number is None or parent is None:
        return bad_argument("jobReparent", "the job id and the parent id must be ints", _NONE)

    def work(client: Client) -> tuple[Any, ...]:
        send(client, "PATCH", f"/jobs/{number}", {"parent": parent})
        return ()

    return call("jobReparent", _NONE, work)


def jobSubmit(job: MJob, owner: str) -> Any:
    """`err`: submit `job` owned by `owner`; on success `job.getJobId()` is its new id.

    Another owner than the console's user needs the manage-all permission.
    """
    if not isinstance(job, MJob):
        return bad_argument("jobSubmit", f"needs an MJob, not {type(job).__name__}", _NONE)
    if not isinstance(owner, str) or not owner.strip():
        return bad_argument("jobSubmit", f"the owner must be a name, not {owner!r}", _NONE)
    item = submission_item(job.to_dict(), owner)

    def work(client: Client) -> tuple[Any, ...]:
        submitted = submit(client, item)
        job._data.update(id=submitted["id"], user=submitted["user"], state=submitted["state"])
        return ()

    return call("jobSubmit", _NONE, work)


def jobEdit(job: MJob) -> Any:
    """`err`: apply the editable fields of `job` (name, priority, pools, ...) to the queued job."""
    if not isinstance(job, MJob):
        return bad_argument("jobEdit", f"needs an MJob, not {type(job).__name__}", _NONE)
    data = job.to_dict()

    def work(client: Client) -> tuple[Any, ...]:
        client.request(
            "PATCH", f"/api/v1/jobs/{job.getJobId()}", data, query={"only_changed": "true"}
        )
        return ()

    return call("jobEdit", _NONE, work)


def jobAddFolder(parent: int, owner: str, name: str) -> Any:
    """`err, folder_id`: create a folder named `name` inside `parent` (-1: the top)."""
    number = as_int(parent)
    if number is None or not isinstance(owner, str) or not isinstance(name, str):
        return bad_argument(
            "jobAddFolder", "needs a parent id, an owner name and a folder name", (-1,)
        )
    body = {"title": name, "parent": number, "owner": owner.strip()}
    return call(
        "jobAddFolder", (-1,), lambda client: (send(client, "POST", "/folders/", body)["id"],)
    )


def jobReinit(id: int) -> Any:
    """`err`: queue every chunk of the job again."""
    return _action("jobReinit", id, "reinit")


def jobDelete(id: int) -> Any:
    """`err`: remove the job (its running chunks are killed)."""
    number = as_int(id)
    if number is None:
        return bad_argument("jobDelete", f"a job id must be an int, not {id!r}", _NONE)

    def work(client: Client) -> tuple[Any, ...]:
        send(client, "DELETE", f"/jobs/{number}")
        return ()

    return call("jobDelete", _NONE, work)


def jobUpdateStatus(id: int) -> Any:
    """`err`: recount the job's status from its chunks and reschedule it."""
    return _action("jobUpdateStatus", id, "update-status")


def jobUpdate(id: int) -> Any:
    """`err`: write the job to the database now and wait until it is durable."""
    return _action("jobUpdate", id, "update")


def chunkGetList(id: int) -> Any:
    """`err, chunks`: every chunk of a job as MChunk objects."""
    number = as_int(id)
    if number is None:
        return bad_argument("chunkGetList", f"a job id must be an int, not {id!r}", _LIST)

    def work(client: Client) -> tuple[Any, ...]:
        views = get_all(client, f"/jobs/{number}/chunks/")
        return ([MChunk.from_dict(view) for view in views],)

    return call("chunkGetList", _LIST, work)


def chunkGet(jobId: int, chunkId: int) -> Any:
    """`err, chunk`: one chunk of a job."""
    job_id, chunk_id = as_int(jobId), as_int(chunkId)
    if job_id is None or chunk_id is None:
        return bad_argument("chunkGet", "the job id and the chunk id must be ints", _ONE)
    path = f"/jobs/{job_id}/chunks/{segment(chunk_id)}"
    return call("chunkGet", _ONE, lambda client: (MChunk.from_dict(get(client, path)),))


def chunkSetStatus(jobId: int, chunkId: int, chunkStatus: int | str) -> Any:
    """`err`: set a chunk queued, done or skipped (MChunk.kChunkQueued, ... or the name)."""
    job_id, chunk_id = as_int(jobId), as_int(chunkId)
    if job_id is None or chunk_id is None:
        return bad_argument("chunkSetStatus", "the job id and the chunk id must be ints", _NONE)
    if isinstance(chunkStatus, str):
        status = chunkStatus.strip().lower()
    elif isinstance(chunkStatus, int) and not isinstance(chunkStatus, bool):
        status = _CHUNK_STATUSES.get(chunkStatus, str(chunkStatus))
    else:
        status = ""
    if status not in _CHUNK_STATUSES.values():
        return bad_argument(
            "chunkSetStatus",
            f"a chunk can be set queued, done or skipped (MChunk.kChunkQueued, kChunkDone, "
            f"kChunkSkipped), not {chunkStatus!r}",
            _NONE,
        )

    def work(client: Client) -> tuple[Any, ...]:
        send(client, "PUT", f"/jobs/{job_id}/chunks/{segment(chunk_id)}", {"state": status})
        return ()

    return call("chunkSetStatus", _NONE, work)
