"""MDispatcherAPI: the node functions (the hook host's side).

They act on live render clients through the dispatcher's node control; a
node is named by its id (`nodeGetByName` finds the id of a name).
"""

from __future__ import annotations

from typing import Any

from hooks.api.farm_objects import MNode
from hooks.api.link import as_int, bad_argument, invoke
from hooks.api.objects import MStringRef

__all__ = [
    "nodeForceUpdate",
    "nodeGet",
    "nodeGetByName",
    "nodeGetList",
    "nodeKillAndGoOnNodesWorkingOnJob",
    "nodeKillAndPauseNodesWorkingOnJob",
    "nodeKillAndRedoNodesWorkingOnJob",
    "nodeKillProcess",
    "nodeKillProcessAndPause",
    "nodeKillProcessAndRestart",
    "nodePause",
    "nodePurgeJobsExclusions",
    "nodePurgeTemplatesExclusion",
    "nodeRemoveRegistration",
    "nodeResume",
    "nodeRunPythonCode",
    "nodeSendSystemEvent",
    "nodeSetNotes",
    "nodeSetProcessPriority",
    "nodeSetRealtimeLog",
    "nodeSoftRestart",
    "kSystemEventLogoff",
    "kSystemEventReboot",
    "kSystemEventShutdown",
]

# System events nodeSendSystemEvent sends (GUESS values; Corral's own). The node
# hands them to the event command its operator configured; without one it refuses.
kSystemEventShutdown = 0
kSystemEventReboot = 1
kSystemEventLogoff = 2
SYSTEM_EVENTS = {0: "shutdown", 1: "reboot", 2: "logoff"}

_NONE: tuple[Any, ...] = ()


def _nodes(values: list[Any]) -> tuple[Any, ...]:
    return ([MNode(node) for node in values[0]],)


def _node(values: list[Any]) -> tuple[Any, ...]:
    return (MNode(values[0]),)


def _simple(function: str, node_id: object, *extra: Any, what: str = "node") -> Any:
    number = as_int(node_id)
    if number is None:
        return bad_argument(function, f"a {what} id must be an int, not {node_id!r}", _NONE)
    return invoke(function, [number, *extra], _NONE)


def nodeKillProcess(id: int) -> Any:
    """`err`: kill what the node runs now; its chunks are queued again."""
    return _simple("nodeKillProcess", id)


def nodeKillProcessAndPause(id: int) -> Any:
    """`err`: kill what the node runs and pause the node."""
    return _simple("nodeKillProcessAndPause", id)


def nodeKillProcessAndRestart(id: int) -> Any:
    """`err`: kill what the node runs and start the same chunks again on it."""
    return _simple("nodeKillProcessAndRestart", id)


def nodeKillAndPauseNodesWorkingOnJob(id: int) -> Any:
    """`err`: kill the job's processes on every node running it, and pause those nodes."""
    return _simple("nodeKillAndPauseNodesWorkingOnJob", id, what="job")


def nodeKillAndRedoNodesWorkingOnJob(id: int) -> Any:
    """`err`: kill the job's processes on every node running it and run those chunks again."""
    return _simple("nodeKillAndRedoNodesWorkingOnJob", id, what="job")


def nodeKillAndGoOnNodesWorkingOnJob(id: int) -> Any:
    """`err`: kill the job's processes on every node running it; the nodes go on with other work."""
    return _simple("nodeKillAndGoOnNodesWorkingOnJob", id, what="job")


def nodePause(id: int) -> Any:
    """`err`: the node takes no new chunk (a running one finishes)."""
    return _simple("nodePause", id)


def nodeResume(id: int) -> Any:
    """`err`: the node takes chunks again."""
    return _simple("nodeResume", id)


def nodeForceUpdate(id: int) -> Any:
    """`err`: ask the node to report its status now."""
    return _simple("nodeForceUpdate", id)


def nodeSetProcessPriority(id: int, priority: int) -> Any:
    """`err`: the OS priority of the node's render processes (a nice value, -20..19)."""
    value = as_int(priority)
    if value is None:
        return bad_argument(
            "nodeSetProcessPriority", f"the priority must be an int, not {priority!r}", _NONE
        )
    return _simple("nodeSetProcessPriority", id, value)


def nodeSoftRestart(id: int) -> Any:
    """`err`: the render client reconnects and reloads its templates; running chunks go on."""
    return _simple("nodeSoftRestart", id)


def nodePurgeTemplatesExclusion(id: int, templateId: int | str | None) -> Any:
    """`err`: let the node run the template again (None: every template it excludes)."""
    if templateId is not None and not isinstance(templateId, int | str):
        return bad_argument(
            "nodePurgeTemplatesExclusion", "the template is an id, a key or None", _NONE
        )
    return _simple(
        "nodePurgeTemplatesExclusion", id, None if templateId is None else str(templateId)
    )


def nodePurgeJobsExclusions(id: int, jobsId: int | None) -> Any:
    """`err`: let the node run the job again after failures excluded it (None: every job)."""
    job_id = None if jobsId is None else as_int(jobsId)
    if jobsId is not None and job_id is None:
        return bad_argument(
            "nodePurgeJobsExclusions", f"the job id must be an int or None, not {jobsId!r}", _NONE
        )
    return _simple("nodePurgeJobsExclusions", id, job_id)


def nodeSetRealtimeLog(id: int, status: bool | int) -> Any:
    """`err`: turn the node's live log streaming on or off."""
    if not isinstance(status, bool | int):
        return bad_argument(
            "nodeSetRealtimeLog", f"the status must be a bool, not {status!r}", _NONE
        )
    return _simple("nodeSetRealtimeLog", id, bool(status))


def nodeSendSystemEvent(id: int, event: int | str) -> Any:
    """`err`: send kSystemEventShutdown, ...Reboot, ...Logoff, ...Standby or ...Hibernate."""
    name = SYSTEM_EVENTS.get(event) if isinstance(event, int) else str(event).lower()
    if name not in SYSTEM_EVENTS.values():
        return bad_argument("nodeSendSystemEvent", f"unknown system event {event!r}", _NONE)
    return _simple("nodeSendSystemEvent", id, name)


def nodeRunPythonCode(id: int, code: str, output: MStringRef | None = None) -> Any:
    """`err`: run Python code on the node (render-client context, MInstanceAPI available).

    What the code printed is written into `output` when an MStringRef is given
    (a Corral addition); when the code fails, `err` carries its traceback.
    """
    number = as_int(id)
    if (
        number is None
        or not isinstance(code, str)
        or not (output is None or isinstance(output, MStringRef))
    ):
        return bad_argument(
            "nodeRunPythonCode",
            "needs a node id, the code as a string and optionally an MStringRef",
            _NONE,
        )
    err, printed = invoke("nodeRunPythonCode", [number, code], ("",))
    if output is not None:
        output.setString(printed)
    return err


def nodeSetNotes(id: int, notes: str) -> Any:
    """`err`: the node's notes, shown in the consoles."""
    if not isinstance(notes, str):
        return bad_argument("nodeSetNotes", f"the notes must be a string, not {notes!r}", _NONE)
    return _simple("nodeSetNotes", id, notes)


def nodeRemoveRegistration(id: int) -> Any:
    """`err`: forget the node (it registers again when it next connects)."""
    return _simple("nodeRemoveRegistration", id)


def nodeGetList() -> Any:
    """`err, nodes`: every registered node as MNode objects."""
    return invoke("nodeGetList", [], ([],), _nodes)


def nodeGet(id: int) -> Any:
    """`err, node`: one node by id."""
    number = as_int(id)
    if number is None:
        return bad_argument("nodeGet", f"a node id must be an int, not {id!r}", (None,))
    return invoke("nodeGet", [number], (None,), _node)


def nodeGetByName(name: str) -> Any:
    """`err, node`: one node by name ("host" or "host#2" for a later instance)."""
    if not isinstance(name, str):
        return bad_argument("nodeGetByName", f"a node name must be a string, not {name!r}", (None,))
    return invoke("nodeGetByName", [name], (None,), _node)
