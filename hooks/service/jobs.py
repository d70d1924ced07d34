"""MDispatcherAPI jobs and chunks, on the dispatcher's live queue."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dispatcher import jobspec, listing
from dispatcher.errors import ValidationError
from dispatcher.model import Job, JobKind, Status
from dispatcher.views import chunk_view, job_view
from hooks.lifecycle import edit_changes, spec_from_wire
from hooks.service.registry import api, as_int, as_text, done

if TYPE_CHECKING:
    from dispatcher.app import Dispatcher


def _job(d: Dispatcher, job_id: object) -> Job:
    return d.queue.get(as_int(job_id, "job"))


def _names(d: Dispatcher) -> dict[int, str]:
    return {node.id: node.label for node in d.queue.nodes.values()}


def _owner(owner: object) -> str:
    name = as_text(owner, "owner").strip()
    if len(name) > 255:
        raise ValidationError("owner: at most 255 characters", field="owner")
    return name


@api
async def jobGetList(d: Dispatcher) -> list[Any]:
    selection = listing.Selection.of(d.queue.index.all)
    render = listing.job_render(d.queue)
    return [await listing.collect(selection, render, slice_items=listing.JOB_SLICE)]


@api
def jobGet(d: Dispatcher, job_id: object) -> list[Any]:
    return [job_view(_job(d, job_id))]


@api
async def jobReparent(d: Dispatcher, job_id: object, parent: object) -> list[Any]:
    job = _job(d, job_id)
    changes = jobspec.parse_edit({"parent": as_int(parent, "parent")})
    d.queue.edit(job, changes)
    return await done(d, "reparent", job=job.id, parent=job.parent)


@api
async def jobSubmit(d: Dispatcher, data: object, owner: object) -> list[Any]:
    if not isinstance(data, dict):
        raise ValidationError("job: an MJob is required")
    name = _owner(owner)
    spec = spec_from_wire({**data, "user": name})
    jobs = await d.submit([spec], name)
    d.actions.record("hooks", "submit", job=jobs[0].id, owner=name)
    return [job_view(jobs[0])]


@api
async def jobEdit(d: Dispatcher, data: object) -> list[Any]:
    if not isinstance(data, dict):
        raise ValidationError("job: an MJob is required")
    job = _job(d, data.get("id"))
    changes = edit_changes(job, data)
    if changes:
        await d.edit_job(job, changes)
    return await done(d, "edit", job=job.id, fields=sorted(changes))


@api
async def jobAddFolder(d: Dispatcher, parent: object, owner: object, name: object) -> list[Any]:
    spec = jobspec.parse_spec(
        {"title": as_text(name, "name"), "kind": JobKind.FOLDER.value, "parent": as_int(parent, "parent"),
         "user": _owner(owner)}
    )  # fmt: skip
    folders = await d.submit([spec], _owner(owner))
    d.actions.record("hooks", "add_folder", job=folders[0].id)
    return [folders[0].id]


@api
async def jobReinit(d: Dispatcher, job_id: object) -> list[Any]:
    job = _job(d, job_id)
    d.queue.reinit(job)
    return await done(d, "reinit", job=job.id)


@api
async def jobDelete(d: Dispatcher, job_id: object) -> list[Any]:
    job = _job(d, job_id)
    d.queue.delete(job)
    d.chunk_logs.remove_job(job.id)
    return await done(d, "delete", job=job.id)


@api
def jobUpdateStatus(d: Dispatcher, job_id: object) -> list[Any]:
    job = _job(d, job_id)
    job.recount()
    d.store.put_job(job)
    d.queue.on_change(job)
    return []


@api
async def jobUpdate(d: Dispatcher, job_id: object) -> list[Any]:
    job = _job(d, job_id)
    d.store.put_job(job)
    await d.store.commit()
    return []


@api
async def chunkGetList(d: Dispatcher, job_id: object) -> list[Any]:
    job = _job(d, job_id)
    names = _names(d)

    def render(keys: list[int]) -> list[Any]:
        return [chunk_view(job, index, names) for index in keys if index < job.chunk_count]

    selection = listing.chunk_selection(job, {})
    return [await listing.collect(selection, render, slice_items=listing.CHUNK_SLICE)]


@api
def chunkGet(d: Dispatcher, job_id: object, chunk_id: object) -> list[Any]:
    job = _job(d, job_id)
    index = d.queue.chunk(job, as_int(chunk_id, "chunk"))
    return [chunk_view(job, index, _names(d))]


@api
async def chunkSetStatus(
    d: Dispatcher, job_id: object, chunk_id: object, status: object
) -> list[Any]:
    job = _job(d, job_id)
    index = d.queue.chunk(job, as_int(chunk_id, "chunk"))
    try:
        chosen = Status(as_text(status, "status"))
    except ValueError:
        raise ValidationError(f"status: unknown chunk status {status!r}", field="status") from None
    d.queue.set_chunk_status(job, index, chosen)
    return await done(d, "chunk_set_status", job=job.id, chunk=index, state=chosen.value)
