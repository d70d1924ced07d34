"""MDispatcherAPI jobs and chunks, translated onto the job and chunk operations."""

from __future__ import annotations

from typing import Any

from dispatcher.errors import ValidationError
from dispatcher.jobspec import JobSpec
from dispatcher.operations import Actor, Operations
from dispatcher.views import job_view
from hooks.api.objects import MJob
from hooks.service.registry import api, as_int, as_text

# What of an MJob a submission takes (an MJob has start and end, not a frame range;
# a copy of a queued job's MJob is a new job, so its UUID is not taken).
SPEC_FIELDS = frozenset(JobSpec.model_fields) - {"frames", "uuid"}
# An MJob carries every field; those a template gives a default for or a submission
# item may set count as not given while they hold a new MJob's value, so that the
# template's defaults and items apply (dispatcher/submission_items.py).
_UNSET = MJob().to_dict()
TEMPLATE_FILLED = ("priority", "pools", "excluded_pools", "max_nodes", "by")
FRAME_RANGE = ("start", "end")  # untouched only together: start 1 with end 6 is a range


@api
async def jobGetList(ops: Operations, actor: Actor) -> list[Any]:
    return [await ops.jobs.views(actor)]


@api
def jobGet(ops: Operations, actor: Actor, job_id: object) -> list[Any]:
    return [job_view(ops.jobs.get(actor, as_int(job_id, "job")))]


@api
async def jobReparent(ops: Operations, actor: Actor, job_id: object, parent: object) -> list[Any]:
    await ops.jobs.reparent(actor, as_int(job_id, "job"), as_int(parent, "parent"))
    return []


@api
async def jobSubmit(ops: Operations, actor: Actor, data: object, owner: object) -> list[Any]:
    if not isinstance(data, dict):
        raise ValidationError("job: an MJob is required")
    owner = as_text(owner, "owner")
    untouched = {key for key in TEMPLATE_FILLED if data.get(key) == _UNSET[key]}
    if all(data.get(key) == _UNSET[key] for key in FRAME_RANGE):
        untouched.update(FRAME_RANGE)
    item = {key: value for key, value in data.items() if key in SPEC_FIELDS - untouched}
    jobs = await ops.jobs.submit(actor, [{**item, "user": owner.strip()}], owner=owner)
    return [job_view(jobs[0])]


@api
async def jobEdit(ops: Operations, actor: Actor, data: object) -> list[Any]:
    if not isinstance(data, dict):
        raise ValidationError("job: an MJob is required")
    await ops.jobs.edit(actor, as_int(data.get("id"), "job"), data, only_changed=True)
    return []


@api
async def jobAddFolder(
    ops: Operations, actor: Actor, parent: object, owner: object, name: object
) -> list[Any]:
    folder = await ops.jobs.add_folder(
        actor, as_int(parent, "parent"), as_text(name, "name"), as_text(owner, "owner")
    )
    return [folder.id]


@api
async def jobReinit(ops: Operations, actor: Actor, job_id: object) -> list[Any]:
    await ops.jobs.reinit(actor, as_int(job_id, "job"))
    return []


@api
async def jobDelete(ops: Operations, actor: Actor, job_id: object) -> list[Any]:
    await ops.jobs.delete(actor, as_int(job_id, "job"))
    return []


@api
async def jobUpdateStatus(ops: Operations, actor: Actor, job_id: object) -> list[Any]:
    await ops.jobs.update_status(actor, as_int(job_id, "job"))
    return []


@api
async def jobUpdate(ops: Operations, actor: Actor, job_id: object) -> list[Any]:
    await ops.jobs.update(actor, as_int(job_id, "job"))
    return []


@api
async def chunkGetList(ops: Operations, actor: Actor, job_id: object) -> list[Any]:
    return [await ops.chunks.list(actor, as_int(job_id, "job"), runs=False)]


@api
async def chunkGet(ops: Operations, actor: Actor, job_id: object, chunk_id: object) -> list[Any]:
    return [
        await ops.chunks.get(actor, as_int(job_id, "job"), as_int(chunk_id, "chunk"), runs=False)
    ]


@api
async def chunkSetStatus(
    ops: Operations, actor: Actor, job_id: object, chunk_id: object, status: object
) -> list[Any]:
    await ops.chunks.set_status(
        actor, as_int(job_id, "job"), as_int(chunk_id, "chunk"), as_text(status, "status")
    )
    return []
