"""MConsoleAPI: the node functions, over the REST node actions.

A node action's answer says whether the node did it (`ok`); a node that
refused or failed is a MUSTERERR, as in the dispatcher context.
"""

from __future__ import annotations

from typing import Any

from console.consoleapi.transport import Failed, bad_argument, call, get, get_all, segment, send
from corral_client import Client
from hooks.api.dispatcher_nodes import (
    SYSTEM_EVENTS,
    kSystemEventLogoff,
    kSystemEventReboot,
    kSystemEventShutdown,
)
from hooks.api.errors import kErrConflict, kErrTimeout
from hooks.api.farm_objects import MNode
from hooks.api.link import as_int
from hooks.api.objects import MStringRef

__all__ = [
    "kSystemEventLogoff",
    "kSystemEventReboot",
    "kSystemEventShutdown",
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
]

_NONE: tuple[Any, ...] = ()


def _simple(
    function: str,
    node_id: object,
    action: str,
    body: dict[str, Any] | None = None,
    *,
    answered: bool = False,
) -> Any:
    """A node action; with `answered`, a node that did not carry it out is a MUSTERERR
    (the commands the node answers: system events)."""
    number = as_int(node_id)
    if number is None:
        return bad_argument(function, f"a node id must be an int, not {node_id!r}", _NONE)

    def work(client: Client) -> tuple[Any, ...]:
        answer = send(client, "POST", f"/nodes/{number}/actions/{action}", body)
        if answered and not answer.get("ok", False):
            raise Failed(kErrConflict, f"the node refused the {action}: {answer.get('output')}")
        return ()

    return call(function, _NONE, work)


def _on_job(function: str, job_id: object, then: str) -> Any:
    number = as_int(job_id)
    if number is None:
        return bad_argument(function, f"a job id must be an int, not {job_id!r}", _NONE)

    def work(client: Client) -> tuple[Any, ...]:
        send(client, "POST", f"/jobs/{number}/kill-nodes", {"then": then})
        return ()

    return call(function, _NONE, work)


def nodeKillProcess(id: int) -> Any:
    """`err`: kill what the node runs now; its chunks are queued again."""
    return _simple("nodeKillProcess", id, "kill")


def nodeKillProcessAndPause(id: int) -> Any:
    """`err`: kill what the node runs and pause the node."""
    return _simple("nodeKillProcessAndPause", id, "kill-pause")


def nodeKillProcessAndRestart(id: int) -> Any:
    """`err`: kill what the node runs and start the same chunks again on it."""
    return _simple("nodeKillProcessAndRestart", id, "kill-restart")


def nodeKillAndPauseNodesWorkingOnJob(id: int) -> Any:
    """`err`: kill the job's processes on every node running it, and pause those nodes."""
    return _on_job("nodeKillAndPauseNodesWorkingOnJob", id, "pause")


def nodeKillAndRedoNodesWorkingOnJob(id: int) -> Any:
    """`err`: kill the job's processes on every node running it and run those chunks again."""
    return _on_job("nodeKillAndRedoNodesWorkingOnJob", id, "redo")


def nodeKillAndGoOnNodesWorkingOnJob(id: int) -> Any:
    """`err`: kill the job's processes on every node running it; the nodes go on with other work."""
    return _on_job("nodeKillAndGoOnNodesWorkingOnJob", id, "go-on")


def nodePause(id: int) -> Any:
    """`err`: the node takes no new chunk (a running one finishes)."""
    return _simple("nodePause", id, "pause")


def nodeResume(id: int) -> Any:
    """`err`: the node takes chunks again."""
    return _simple("nodeResume", id, "resume")


def nodeForceUpdate(id: int) -> Any:
    """`err`: ask the node to report its status now."""
    return _simple("nodeForceUpdate", id, "update")


def nodeSetProcessPriority(id: int, priority: int) -> Any:
    """`err`: the OS priority of the node's render processes (a nice value, -20..19)."""
    value = as_int(priority)
    if value is None:
        return bad_argument(
            "nodeSetProcessPriority", f"the priority must be an int, not {priority!r}", _NONE
        )
    return _simple("nodeSetProcessPriority", id, "priority", {"priority": value})


def nodeSoftRestart(id: int) -> Any:
    """`err`: the render client reconnects and reloads its templates; running chunks go on."""
    return _simple("nodeSoftRestart", id, "soft-restart")


def nodePurgeTemplatesExclusion(id: int, templateId: int | str | None) -> Any:
    """`err`: let the node run the template again (None: every template it excludes)."""
    if templateId is not None and (
        isinstance(templateId, bool) or not isinstance(templateId, int | str)
    ):
        return bad_argument(
            "nodePurgeTemplatesExclusion", "the template is an id, a key or None", _NONE
        )
    body = {"templates": True} if templateId is None else {"template": str(templateId)}
    return _simple("nodePurgeTemplatesExclusion", id, "purge-exclusions", body)


def nodePurgeJobsExclusions(id: int, jobsId: int | None) -> Any:
    """`err`: let the node run the job again after failures excluded it (None: every job)."""
    job_id = None if jobsId is None else as_int(jobsId)
    if jobsId is not None and job_id is None:
        return bad_argument(
            "nodePurgeJobsExclusions", f"the job id must be an int or None, not {jobsId!r}", _NONE
        )
    body = {"jobs": True} if job_id is None else {"job": job_id}
    return _simple("nodePurgeJobsExclusions", id, "purge-exclusions", body)


def nodeSetRealtimeLog(id: int, status: bool | int) -> Any:
    """`err`: turn the node's live log streaming on or off."""
    if not isinstance(status, bool | int):
        return bad_argument(
            "nodeSetRealtimeLog", f"the status must be a bool, not {status!r}", _NONE
        )
    return _simple("nodeSetRealtimeLog", id, "realtime-log", {"on": bool(status)})


def nodeSendSystemEvent(id: int, event: int | str) -> Any:
    """`err`: send kSystemEventShutdown, kSystemEventReboot or kSystemEventLogoff."""
    name = SYSTEM_EVENTS.get(event) if isinstance(event, int) else str(event).lower()
    if name not in SYSTEM_EVENTS.values():
        return bad_argument("nodeSendSystemEvent", f"unknown system event {event!r}", _NONE)
    return _simple("nodeSendSystemEvent", id, "system-event", {"event": name}, answered=True)


def nodeRunPythonCode(id: int, code: str, output: MStringRef | None = None) -> Any:
    """`err`: run Python code on the node (render-client context, MInstanceAPI available).

    What the code printed is written into `output` when an MStringRef is given;
    when the code fails, `err` carries its traceback. Needs the administer permission.
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

    def work(client: Client) -> tuple[Any, ...]:
        answer = send(client, "POST", f"/nodes/{number}/actions/run-python", {"code": code})
        printed = str(answer.get("output", ""))
        if not answer.get("ok", False):
            if "did not answer" in printed:
                raise Failed(kErrTimeout, printed)
            raise Failed(kErrConflict, f"the code failed on the node: {printed}")
        if output is not None:
            output.setString(printed)
        return ()

    return call("nodeRunPythonCode", _NONE, work)


def nodeSetNotes(id: int, notes: str) -> Any:
    """`err`: the node's notes, shown in the consoles."""
    if not isinstance(notes, str):
        return bad_argument("nodeSetNotes", f"the notes must be a string, not {notes!r}", _NONE)
    return _simple("nodeSetNotes", id, "notes", {"notes": notes})


def nodeRemoveRegistration(id: int) -> Any:
    """`err`: forget the node (it registers again when it next connects)."""
    number = as_int(id)
    if number is None:
        return bad_argument(
            "nodeRemoveRegistration", f"a node id must be an int, not {id!r}", _NONE
        )

    def work(client: Client) -> tuple[Any, ...]:
        send(client, "DELETE", f"/nodes/{number}")
        return ()

    return call("nodeRemoveRegistration", _NONE, work)


def nodeGetList() -> Any:
    """`err, nodes`: every registered node as MNode objects."""
    return call(
        "nodeGetList", ([],), lambda client: ([MNode(view) for view in get_all(client, "/nodes/")],)
    )


def nodeGet(id: int) -> Any:
    """`err, node`: one node by id."""
    number = as_int(id)
    if number is None:
        return bad_argument("nodeGet", f"a node id must be an int, not {id!r}", (None,))
    return call("nodeGet", (None,), lambda client: (MNode(get(client, f"/nodes/{number}")),))


def nodeGetByName(name: str) -> Any:
    """`err, node`: one node by name ("host" or "host#2" for a later instance).

    A name made only of digits is read as a node id by the REST path; such
    nodes are found with nodeGetList.
    """
    if not isinstance(name, str) or not name.strip():
        return bad_argument("nodeGetByName", f"a node name must be a string, not {name!r}", (None,))
    path = f"/nodes/{segment(name.strip())}"
    return call("nodeGetByName", (None,), lambda client: (MNode(get(client, path)),))
