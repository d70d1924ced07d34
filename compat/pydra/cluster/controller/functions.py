"""The controller's functions, each a translation onto Corral's REST API.

Each takes the controller (``request(method, path, body, query)``) first. A task
is a Corral template (its key is the task key); a task instance is a job; a node
is a render node, with one worker (a render client instance runs one task at a time).
"""

from typing import Any, Callable, Dict, List

from ..tasks import STATUS_OF_STATE, STATUS_STOPPED
from . import CONTROLLER_ERROR_FUNCTION_ERROR, ControllerException, NotSupported

PAGE_SIZE = 25
# The arguments of queue_task that are Corral job fields; every other one goes to the
# job's data, where the template reads it as an attribute.
JOB_FIELDS = frozenset(
    ("title", "command", "frames", "start", "end", "by", "batch", "priority", "pools",
     "excluded_pools", "max_nodes", "depends_on", "per_frame", "requeue", "time_limit_s",
     "memory_mb", "environ", "notes", "paused", "project", "department", "parent")
)  # fmt: skip
# What node_edit can change, and the node action that changes it.
NODE_EDITS = {"notes": "notes", "priority": "priority"}


def _refuse(message: str) -> ControllerException:
    return ControllerException(CONTROLLER_ERROR_FUNCTION_ERROR, message)


def _page(page: Any) -> int:
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise _refuse("page must be a whole number from 1, not %r" % (page,))
    return page


def _instance_id(value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _refuse("a task instance id is a whole number from 1, not %r" % (value,))
    return value


def _node_ref(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip():
        raise _refuse("a node id is a number (or a node name), not %r" % (value,))
    return str(value).strip()


def _instance(view: Dict[str, Any]) -> Dict[str, Any]:
    args = dict(view.get("data") or {})
    if view.get("command"):
        args["command"] = list(view["command"])
    return {
        "id": view["id"],
        "task_key": view.get("template"),
        "title": view.get("title"),
        "args": args,
        "status": STATUS_OF_STATE.get(view.get("state", ""), STATUS_STOPPED),
        "state": view.get("state"),
        "progress": view.get("progress", 0.0),
        "queued": view.get("time_submitted"),
        "started": view.get("time_started"),
        "completed": view.get("time_finished"),
        "user": view.get("user"),
        "priority": view.get("priority"),
        "chunks": view.get("chunks"),
        "failed_reason": view.get("failed_reason") or "",
    }


def _node(view: Dict[str, Any]) -> Dict[str, Any]:
    resources = view.get("resources") or {}
    memory = resources.get("memory_total_bytes")
    return {
        "id": view["id"],
        "host": view.get("name"),
        "port": None,
        "cores": view.get("cpus") or resources.get("cpus") or 0,
        "memory": memory // (1024 * 1024) if isinstance(memory, int) else None,
        "seen": bool(view.get("last_seen")),
        "online": bool(view.get("online")),
        "paused": bool(view.get("paused")),
        "address": view.get("address"),
        "platform": view.get("platform"),
        "pools": list(view.get("pools") or []),
        "notes": view.get("notes") or "",
        "last_seen": view.get("last_seen"),
        "running": list(view.get("running") or []),
    }


def _jobs(controller: Any, **query: Any) -> List[Dict[str, Any]]:
    return [job for job in controller.request("GET", "/jobs/", query=query or None)
            if job.get("kind", "job") == "job"]  # fmt: skip


def _nodes(controller: Any) -> List[Dict[str, Any]]:
    return sorted(controller.request("GET", "/nodes/"), key=lambda node: node["id"])


# -- tasks -------------------------------------------------------------------------------
def list_tasks(controller: Any, toplevel: bool = True, keys: Any = None) -> List[str]:
    """The task keys the cluster can run (the templates' keys), only those in ``keys``
    when given. Every template is a top-level task, so ``toplevel`` changes nothing."""
    if keys is not None and (isinstance(keys, str) or not isinstance(keys, (list, tuple, set))):
        raise _refuse("keys must be a list of task keys, not %r" % (keys,))
    wanted = set(keys) if keys else None
    found = controller.request("GET", "/templates/").get("templates", [])
    return sorted(t["key"] for t in found if wanted is None or t["key"] in wanted)


def queue_task(controller: Any, task_key: Any, args: Any = None) -> int:
    """Queue task ``task_key`` with ``args``; the new task instance's (job's) id.

    The job fields among ``args`` (``title``, ``command``, ``frames``, ``priority``,
    ``pools`` ...) set the job's; the others go to the job's data for the template.
    """
    if not isinstance(task_key, str) or not task_key.strip():
        raise _refuse("a task key is a template's key, not %r" % (task_key,))
    if args is None:
        args = {}
    if not isinstance(args, dict) or not all(isinstance(name, str) for name in args):
        raise _refuse("args must be a dictionary with names as keys, not %r" % (args,))
    spec = {"template": task_key.strip(), "title": task_key.strip()}  # type: Dict[str, Any]
    data = {}
    for name, value in args.items():
        if name in JOB_FIELDS:
            spec[name] = value
        else:
            data[name] = value
    if data:
        spec["data"] = data
    created = controller.request("POST", "/jobs/", spec, {"unique_titles": "false"}, retries=2)
    return int(created["id"])


def run_tasks(controller: Any, task_key: Any, **kwargs: Any) -> int:
    """``queue_task(task_key, kwargs)``: the seed's example form."""
    return queue_task(controller, task_key, kwargs)


def cancel_task(controller: Any, task_key: Any) -> int:
    """Cancel task instance ``task_key`` (a job id): dequeue it, or stop it where it runs.

    The job is deleted, so it leaves the history too. 1 on success.
    """
    job_id = _instance_id(task_key)
    job = controller.request("GET", "/jobs/%d" % job_id)
    if job.get("kind", "job") != "job":
        raise _refuse("%d is a folder, not a task instance" % job_id)
    controller.request("DELETE", "/jobs/%d" % job_id)
    return 1


def list_queue(controller: Any) -> List[Dict[str, Any]]:
    """The task instances waiting to run (queued or paused jobs), oldest first."""
    return [_instance(job) for job in _jobs(controller) if job["state"] in ("queued", "paused")]


def list_running(controller: Any) -> List[Dict[str, Any]]:
    """The task instances running (jobs with a chunk running), oldest first."""
    return [_instance(job) for job in _jobs(controller, state="running")]


def task_history(controller: Any, key: Any, page: Any = 1) -> List[Dict[str, Any]]:
    """Page ``page`` (from 1, ``PAGE_SIZE`` each, newest first) of the task instances of
    task ``key``; past the last page, an empty list."""
    if not isinstance(key, str) or not key.strip():
        raise _refuse("a task key is a template's key, not %r" % (key,))
    number = _page(page)
    if key.strip() not in list_tasks(controller):
        raise _refuse("no task %r: list_tasks() names them" % key)
    jobs = sorted(_jobs(controller, template=key.strip()), key=lambda job: -job["id"])
    return [_instance(job) for job in jobs[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]]


def task_history_detail(controller: Any, task_instance_id: Any) -> Dict[str, Any]:
    """One task instance with its work units (the job's chunks) and where each ran."""
    job_id = _instance_id(task_instance_id)
    job = controller.request("GET", "/jobs/%d" % job_id)
    if job.get("kind", "job") != "job":
        raise _refuse("%d is a folder, not a task instance" % job_id)
    detail = _instance(job)
    detail["workunits"] = [
        {
            "id": task["id"],
            "chunk": task["chunk"],
            "start": task["start"],
            "end": task["end"],
            "state": task["state"],
            "status": STATUS_OF_STATE.get(task["state"], STATUS_STOPPED),
            "node": task.get("node"),
            "attempts": task.get("attempts", 0),
            "started": task.get("time_started"),
            "completed": task.get("time_finished"),
            "exit_code": task.get("exit_code"),
            "error": task.get("error") or "",
        }  # fmt: skip
        for task in controller.request("GET", "/jobs/%d/tasks/" % job_id)
    ]
    return detail


def task_statuses(controller: Any) -> Dict[int, Dict[str, Any]]:
    """``{instance id: {"status", "state", "progress"}}`` of every task instance not yet
    ended (queued, running or paused). Read from the dispatcher's live state: always
    up to date, never a cached answer."""
    return {
        job["id"]: {
            "status": STATUS_OF_STATE.get(job["state"], STATUS_STOPPED),
            "state": job["state"],
            "progress": job.get("progress", 0.0),
        }
        for job in _jobs(controller)
        if job["state"] in ("queued", "running", "paused")
    }


# -- nodes -------------------------------------------------------------------------------
def connect(controller: Any) -> Dict[str, List[str]]:
    """Render clients connect to the master themselves and reconnect on their own, so
    nothing is asked of them: the answer says which nodes are connected and which not."""
    nodes = _nodes(controller)
    return {
        "connected": [node["name"] for node in nodes if node.get("online")],
        "disconnected": [node["name"] for node in nodes if not node.get("online")],
    }


def list_known_nodes(controller: Any) -> List[Dict[str, Any]]:
    """The nodes connected to the master now."""
    return [_node(node) for node in _nodes(controller) if node.get("online")]


def node_list(controller: Any, page: Any = 1) -> List[Dict[str, Any]]:
    """Page ``page`` (from 1, ``PAGE_SIZE`` each, by id) of every node the master knows;
    past the last page, an empty list."""
    number = _page(page)
    nodes = _nodes(controller)
    return [_node(node) for node in nodes[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]]


def node_detail(controller: Any, id: Any) -> Dict[str, Any]:  # noqa: A002 (Pydra's name)
    """One node by its id (or name), with its resources and failures."""
    view = controller.request("GET", "/nodes/%s" % _node_ref(id))
    detail = _node(view)
    detail.update(
        resources=view.get("resources"),
        failures=view.get("failures") or {},
        excluded_templates=view.get("excluded_templates") or [],
        process_priority=view.get("process_priority"),
    )
    return detail


def node_edit(controller: Any, values: Any) -> Dict[str, Any]:
    """Change the master's record of node ``values["id"]``: ``notes``, ``paused``
    (True pauses it, False lets it take work) and ``priority`` (the render processes'
    nice value, -20 to 19). Nodes are added by their render clients, so values without
    an ``id`` are not supported; nor is any other value (``host``, ``port``, ``cores``:
    they are the node's own). Nothing changes unless every value can be set."""
    if not isinstance(values, dict):
        raise _refuse("values must be a dictionary, not %r" % (values,))
    if "id" not in values:
        raise NotSupported(
            "a node is added when its render client first connects (corral renderclient)"
        )
    others = sorted(str(name) for name in values if name not in ("id", "paused", *NODE_EDITS))
    if others:
        raise NotSupported("node_edit changes notes, paused and priority, not %s" % others)
    if "paused" in values and not isinstance(values["paused"], bool):
        raise _refuse("paused must be True or False, not %r" % (values["paused"],))
    if "notes" in values and not isinstance(values["notes"], str):
        raise _refuse("notes must be text, not %r" % (values["notes"],))
    priority = values.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int) or not -20 <= priority <= 19:
        raise _refuse("priority must be a nice value from -20 to 19, not %r" % (priority,))
    ref = _node_ref(values["id"])
    controller.request("GET", "/nodes/%s" % ref)  # an unknown node changes nothing
    for name, action in NODE_EDITS.items():
        if name in values:
            controller.request("POST", "/nodes/%s/actions/%s" % (ref, action), {name: values[name]})
    if "paused" in values:
        action = "pause" if values["paused"] else "resume"
        controller.request("POST", "/nodes/%s/actions/%s" % (ref, action))
    return node_detail(controller, ref)


def node_status(controller: Any) -> List[Dict[str, Any]]:
    """Each node's status (``offline``, ``paused``, ``busy``, ``idle``) and its workers:
    one per task it runs, or one idle worker."""
    statuses = []
    for node in _nodes(controller):
        running = node.get("running") or []
        if not node.get("online"):
            status = "offline"
        elif node.get("paused"):
            status = "paused"
        else:
            status = "busy" if running else "idle"
        workers = [
            {"worker": "%s:%d" % (node["name"], number), "status": "working",
             "task_instance": ref["job"], "chunk": ref["chunk"]}
            for number, ref in enumerate(running)
        ]  # fmt: skip
        if not workers and status == "idle":
            workers = [{"worker": "%s:0" % node["name"], "status": "idle",
                        "task_instance": None, "chunk": None}]  # fmt: skip
        statuses.append({"id": node["id"], "host": node["name"], "status": status,
                         "workers": workers})  # fmt: skip
    return statuses


FUNCTIONS: Dict[str, Callable[..., Any]] = {
    function.__name__: function
    for function in (
        list_tasks,
        queue_task,
        run_tasks,
        cancel_task,
        list_queue,
        list_running,
        task_history,
        task_history_detail,
        task_statuses,
        connect,
        list_known_nodes,
        node_list,
        node_detail,
        node_edit,
        node_status,
    )  # fmt: skip
}
