"""MDispatcherAPI node functions, translated onto the node operations."""

from __future__ import annotations

from typing import Any

from dispatcher.errors import Conflict, ValidationError
from dispatcher.operations import Actor, Operations
from hooks.service.registry import api, as_int, as_text


def _id(node_id: object) -> int:
    return as_int(node_id, "node")


@api
async def nodeKillProcess(ops: Operations, actor: Actor, node_id: object) -> list[Any]:
    await ops.nodes.kill(actor, _id(node_id))
    return []


@api
async def nodeKillProcessAndPause(ops: Operations, actor: Actor, node_id: object) -> list[Any]:
    await ops.nodes.kill_and_pause(actor, _id(node_id))
    return []


@api
async def nodeKillProcessAndRestart(ops: Operations, actor: Actor, node_id: object) -> list[Any]:
    await ops.nodes.kill_and_restart(actor, _id(node_id))
    return []


@api
async def nodeKillAndPauseNodesWorkingOnJob(
    ops: Operations, actor: Actor, job: object
) -> list[Any]:
    await ops.nodes.kill_on_job(actor, as_int(job, "job"), "pause")
    return []


@api
async def nodeKillAndRedoNodesWorkingOnJob(ops: Operations, actor: Actor, job: object) -> list[Any]:
    await ops.nodes.kill_on_job(actor, as_int(job, "job"), "redo")
    return []


@api
async def nodeKillAndGoOnNodesWorkingOnJob(ops: Operations, actor: Actor, job: object) -> list[Any]:
    await ops.nodes.kill_on_job(actor, as_int(job, "job"), "go-on")
    return []


@api
async def nodePause(ops: Operations, actor: Actor, node_id: object) -> list[Any]:
    await ops.nodes.pause(actor, _id(node_id))
    return []


@api
async def nodeResume(ops: Operations, actor: Actor, node_id: object) -> list[Any]:
    await ops.nodes.resume(actor, _id(node_id))
    return []


@api
async def nodeForceUpdate(ops: Operations, actor: Actor, node_id: object) -> list[Any]:
    await ops.nodes.force_update(actor, _id(node_id))
    return []


@api
async def nodeSetProcessPriority(
    ops: Operations, actor: Actor, node_id: object, priority: object
) -> list[Any]:
    await ops.nodes.set_priority(actor, _id(node_id), as_int(priority, "priority"))
    return []


@api
async def nodeSoftRestart(ops: Operations, actor: Actor, node_id: object) -> list[Any]:
    await ops.nodes.soft_restart(actor, _id(node_id))
    return []


@api
async def nodePurgeTemplatesExclusion(
    ops: Operations, actor: Actor, node_id: object, template: object
) -> list[Any]:
    if template is not None:
        as_text(template, "template")
    await ops.nodes.purge_exclusions(
        actor, _id(node_id), templates=True, template=template, jobs=False
    )
    return []


@api
async def nodePurgeJobsExclusions(
    ops: Operations, actor: Actor, node_id: object, job_id: object
) -> list[Any]:
    job = None if job_id is None else as_int(job_id, "job")
    await ops.nodes.purge_exclusions(actor, _id(node_id), templates=False, jobs=True, job=job)
    return []


@api
async def nodeSetRealtimeLog(
    ops: Operations, actor: Actor, node_id: object, on: object
) -> list[Any]:
    if not isinstance(on, bool):
        raise ValidationError("status: true or false", field="status")
    await ops.nodes.set_realtime_log(actor, _id(node_id), on)
    return []


@api
async def nodeSendSystemEvent(
    ops: Operations, actor: Actor, node_id: object, event: object
) -> list[Any]:
    answer = await ops.nodes.system_event(actor, _id(node_id), as_text(event, "event"))
    if not answer.ok:
        raise Conflict(f"the node refused the {event} event: {answer.output}")
    return []


@api
async def nodeRunPythonCode(
    ops: Operations, actor: Actor, node_id: object, code: object
) -> list[Any]:
    answer = await ops.nodes.run_python(actor, _id(node_id), as_text(code, "code"))
    if not answer.ok:
        if "did not answer" in answer.output:
            raise TimeoutError(answer.output)
        raise Conflict(f"the code failed on the node: {answer.output}")
    return [answer.output]


@api
async def nodeSetNotes(ops: Operations, actor: Actor, node_id: object, notes: object) -> list[Any]:
    await ops.nodes.set_notes(actor, _id(node_id), as_text(notes, "notes", empty=True))
    return []


@api
async def nodeRemoveRegistration(ops: Operations, actor: Actor, node_id: object) -> list[Any]:
    await ops.nodes.remove(actor, _id(node_id))
    return []


@api
def nodeGetList(ops: Operations, actor: Actor) -> list[Any]:
    return [[ops.nodes.api_view(node) for node in ops.nodes.list(actor)]]


@api
def nodeGet(ops: Operations, actor: Actor, node_id: object) -> list[Any]:
    return [ops.nodes.api_view(ops.nodes.get(actor, _id(node_id)))]


@api
def nodeGetByName(ops: Operations, actor: Actor, name: object) -> list[Any]:
    return [ops.nodes.api_view(ops.nodes.by_name(actor, as_text(name, "name")))]
