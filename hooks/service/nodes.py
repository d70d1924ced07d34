"""MDispatcherAPI node functions, acting on live render clients through NodeControl."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dispatcher.errors import Conflict, ValidationError
from dispatcher.model import Node
from dispatcher.views import node_view
from hooks.service.registry import api, as_int, as_text, done

if TYPE_CHECKING:
    from dispatcher.app import Dispatcher


def node_dict(d: Dispatcher, node: Node) -> dict[str, Any]:
    """The MNode form: the REST view plus a status name and the template exclusions."""
    runs = d.queue.runs_on(node.id)
    connected = node.id in d.node_server.connected()
    view = node_view(node, runs, connected)
    if not connected:
        status = "offline"
    elif node.paused:
        status = "paused"
    else:
        status = "busy" if runs else "idle"
    view.update(status=status, excluded_templates=sorted(node.excluded_templates))
    return view


def _node_id(d: Dispatcher, node_id: object) -> int:
    return d.control.node(as_int(node_id, "node")).id


@api
async def nodeKillProcess(d: Dispatcher, node_id: object) -> list[Any]:
    refs = d.control.kill(_node_id(d, node_id))
    return await done(d, "node_kill", node=node_id, chunks=len(refs))


@api
async def nodeKillProcessAndPause(d: Dispatcher, node_id: object) -> list[Any]:
    refs = d.control.kill_and_pause(_node_id(d, node_id))
    return await done(d, "node_kill_and_pause", node=node_id, chunks=len(refs))


@api
async def nodeKillProcessAndRestart(d: Dispatcher, node_id: object) -> list[Any]:
    refs = d.control.kill_and_restart(_node_id(d, node_id))
    return await done(d, "node_kill_and_restart", node=node_id, chunks=len(refs))


async def _on_job(d: Dispatcher, job_id: object, then: str) -> list[Any]:
    touched = d.control.kill_nodes_working_on_job(as_int(job_id, "job"), then)
    return await done(d, f"kill_nodes_on_job_{then}", job=job_id, nodes=touched)


@api
async def nodeKillAndPauseNodesWorkingOnJob(d: Dispatcher, job_id: object) -> list[Any]:
    return await _on_job(d, job_id, "pause")


@api
async def nodeKillAndRedoNodesWorkingOnJob(d: Dispatcher, job_id: object) -> list[Any]:
    return await _on_job(d, job_id, "redo")


@api
async def nodeKillAndGoOnNodesWorkingOnJob(d: Dispatcher, job_id: object) -> list[Any]:
    return await _on_job(d, job_id, "go-on")


@api
async def nodePause(d: Dispatcher, node_id: object) -> list[Any]:
    d.control.pause(_node_id(d, node_id))
    return await done(d, "node_pause", node=node_id)


@api
async def nodeResume(d: Dispatcher, node_id: object) -> list[Any]:
    d.control.resume(_node_id(d, node_id))
    return await done(d, "node_resume", node=node_id)


@api
def nodeForceUpdate(d: Dispatcher, node_id: object) -> list[Any]:
    d.control.force_update(_node_id(d, node_id))
    return []


@api
async def nodeSetProcessPriority(d: Dispatcher, node_id: object, priority: object) -> list[Any]:
    d.control.set_process_priority(_node_id(d, node_id), as_int(priority, "priority"))
    return await done(d, "node_priority", node=node_id, priority=priority)


@api
async def nodeSoftRestart(d: Dispatcher, node_id: object) -> list[Any]:
    d.control.soft_restart(_node_id(d, node_id))
    return await done(d, "node_soft_restart", node=node_id)


@api
async def nodePurgeTemplatesExclusion(
    d: Dispatcher, node_id: object, template: object
) -> list[Any]:
    key: str | None = None
    if template is not None:
        found = d.templates.get(as_text(template, "template"))
        key = found.getKey() if found is not None else str(template)
    purged = d.control.purge_template_exclusions(_node_id(d, node_id), key)
    return await done(d, "node_purge_template_exclusions", node=node_id, purged=purged)


@api
async def nodePurgeJobsExclusions(d: Dispatcher, node_id: object, job_id: object) -> list[Any]:
    job = None if job_id is None else as_int(job_id, "job")
    purged = d.control.purge_job_exclusions(_node_id(d, node_id), job)
    return await done(d, "node_purge_job_exclusions", node=node_id, purged=purged)


@api
async def nodeSetRealtimeLog(d: Dispatcher, node_id: object, on: object) -> list[Any]:
    if not isinstance(on, bool):
        raise ValidationError("status: true or false", field="status")
    d.control.set_realtime_log(_node_id(d, node_id), on)
    return await done(d, "node_realtime_log", node=node_id, on=on)


@api
async def nodeSendSystemEvent(d: Dispatcher, node_id: object, event: object) -> list[Any]:
    answer = await d.control.send_system_event(_node_id(d, node_id), as_text(event, "event"))
    d.actions.record("hooks", "node_system_event", node=node_id, event=event, ok=answer.ok)
    if not answer.ok:
        raise Conflict(f"the node refused the {event} event: {answer.output}")
    return []


@api
async def nodeRunPythonCode(d: Dispatcher, node_id: object, code: object) -> list[Any]:
    answer = await d.control.run_python_answer(_node_id(d, node_id), as_text(code, "code"))
    d.actions.record("hooks", "node_run_python", node=node_id, ok=answer.ok)
    if not answer.ok:
        if "did not answer" in answer.output:
            raise TimeoutError(answer.output)
        raise Conflict(f"the code failed on the node: {answer.output}")
    return [answer.output]


@api
async def nodeSetNotes(d: Dispatcher, node_id: object, notes: object) -> list[Any]:
    d.control.set_notes(_node_id(d, node_id), as_text(notes, "notes", empty=True))
    return await done(d, "node_notes", node=node_id)


@api
async def nodeRemoveRegistration(d: Dispatcher, node_id: object) -> list[Any]:
    d.control.remove_registration(_node_id(d, node_id))
    return await done(d, "node_remove", node=node_id)


@api
def nodeGetList(d: Dispatcher) -> list[Any]:
    return [[node_dict(d, node) for node in d.queue.nodes.values()]]


@api
def nodeGet(d: Dispatcher, node_id: object) -> list[Any]:
    return [node_dict(d, d.control.node(as_int(node_id, "node")))]


@api
def nodeGetByName(d: Dispatcher, name: object) -> list[Any]:
    text = as_text(name, "name")
    if text.strip().isdigit():  # a name, never an id, here
        matches = [node for node in d.queue.nodes.values() if text in (node.label, node.name)]
        if not matches:
            raise ValidationError(f"name: no node named {text!r}", field="name")
        return [node_dict(d, matches[0])]
    return [node_dict(d, d.control.find(text))]
