"""MDispatcherAPI: the jobs and chunks functions (the hook host's side).

Each function checks what it can locally, then runs on the dispatcher through
`hooks.api.link.invoke` and returns a MUSTERERR first.
"""

from __future__ import annotations

from typing import Any

from hooks.api.link import as_int, bad_argument, invoke
from hooks.api.objects import MChunk, MJob

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

# Chunk statuses chunkSetStatus accepts, by MChunk constant or name.
_CHUNK_STATUSES = {
    MChunk.kChunkQueued: "queued",
    MChunk.kChunkDone: "done",
    MChunk.kChunkSkipped: "skipped",
}


def _jobs(values: list[Any]) -> tuple[Any, ...]:
    return ([MJob.adopt(job) for job in values[0]],)


def _job(values: list[Any]) -> tuple[Any, ...]:
    return (MJob.adopt(values[0]),)


def _chunks(values: list[Any]) -> tuple[Any, ...]:
    return ([MChunk.from_dict(chunk) for chunk in values[0]],)


def _chunk(values: list[Any]) -> tuple[Any, ...]:
    return (MChunk.from_dict(values[0]),)


def _by_id(function: str, job_id: object, empty: tuple[Any, ...] = _NONE) -> Any:
    number = as_int(job_id)
    if number is None:
        return bad_argument(function, f"a job id must be an int, not {job_id!r}", empty)
    return invoke(function, [number], empty)


def jobGetList() -> Any:
    """`err, jobs`: every job and folder of the queue as MJob objects."""
    return invoke("jobGetList", [], _LIST, _jobs)


def jobGet(id: int) -> Any:
    """`err, job`: one job of the queue."""
    number = as_int(id)
    if number is None:
        return bad_argument("jobGet", f"a job id must be an int, not {id!r}", _ONE)
    return invoke("jobGet", [number], _ONE, _job)


def jobReparent(id: int, newParentID: int) -> Any:
    """`err`: move a job into the folder `newParentID` (-1: the top)."""
    number, parent = as_int(id), as_int(newParentID)
    if number is None or parent is None:
        return bad_argument("jobReparent", "the job id and the parent id must be ints", _NONE)
    return invoke("jobReparent", [number, parent], _NONE)


def jobSubmit(job: MJob, owner: str) -> Any:
    """`err`: submit `job` owned by `owner`; on success `job.getJobId()` is its new id."""
    if not isinstance(job, MJob):
        return bad_argument("jobSubmit", f"needs an MJob, not {type(job).__name__}", _NONE)
    if not isinstance(owner, str):
        return bad_argument("jobSubmit", f"the owner must be a name, not {owner!r}", _NONE)
    result = invoke("jobSubmit", [job.to_dict(), owner], _ONE)
    err, submitted = result
    if submitted is not None:
        job._data.update(id=submitted["id"], user=submitted["user"], state=submitted["state"])
    return err


def jobEdit(job: MJob) -> Any:
    """`err`: apply the editable fields of `job` (name, priority, pools, ...) to the queued job."""
    if not isinstance(job, MJob):
        return bad_argument("jobEdit", f"needs an MJob, not {type(job).__name__}", _NONE)
    return invoke("jobEdit", [job.to_dict()], _NONE)


def jobAddFolder(parent: int, owner: str, name: str) -> Any:
    """`err, folder_id`: create a folder named `name` inside `parent` (-1: the top)."""
    number = as_int(parent)
    if number is None or not isinstance(owner, str) or not isinstance(name, str):
        return bad_argument(
            "jobAddFolder", "needs a parent id, an owner name and a folder name", (-1,)
        )
    return invoke("jobAddFolder", [number, owner, name], (-1,))


def jobReinit(id: int) -> Any:
    """`err`: queue every chunk of the job again."""
    return _by_id("jobReinit", id)


def jobDelete(id: int) -> Any:
    """`err`: remove the job (its running chunks are killed)."""
    return _by_id("jobDelete", id)


def jobUpdateStatus(id: int) -> Any:
    """`err`: recount the job's status from its chunks and reschedule it."""
    return _by_id("jobUpdateStatus", id)


def jobUpdate(id: int) -> Any:
    """`err`: write the job to the database now and wait until it is durable."""
    return _by_id("jobUpdate", id)


def chunkGetList(id: int) -> Any:
    """`err, chunks`: every chunk of a job as MChunk objects."""
    number = as_int(id)
    if number is None:
        return bad_argument("chunkGetList", f"a job id must be an int, not {id!r}", _LIST)
    return invoke("chunkGetList", [number], _LIST, _chunks)


def chunkGet(jobId: int, chunkId: int) -> Any:
    """`err, chunk`: one chunk of a job."""
    job_id, chunk_id = as_int(jobId), as_int(chunkId)
    if job_id is None or chunk_id is None:
        return bad_argument("chunkGet", "the job id and the chunk id must be ints", _ONE)
    return invoke("chunkGet", [job_id, chunk_id], _ONE, _chunk)


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
    return invoke("chunkSetStatus", [job_id, chunk_id, status], _NONE)
