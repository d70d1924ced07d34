"""REST routes for render nodes, their actions, hosts, and the dispatcher's status.

Node actions: `POST /api/v1/nodes/{node}/actions/{action}` with a JSON object
of the action's arguments (none for most); `{node}` is an id or a name. The
answer is `{"action", "ok", "output", "node"}` where `node` is the node's view
after the action. Actions need the manage-nodes permission, run-python the
administer permission.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from dispatcher import listing
from dispatcher.auth import Permission
from dispatcher.control import Answer, NodeControl
from dispatcher.errors import NotFound, ValidationError
from dispatcher.model import Node
from dispatcher.protocol import Resources
from dispatcher.views import node_view
from dispatcher.web.app import DISPATCHER, current_user, json_response, read_json, require

if TYPE_CHECKING:
    from dispatcher.app import Dispatcher

Action = Callable[[NodeControl, Node, dict[str, Any]], Awaitable[Answer]]


def node_detail(dispatcher: Dispatcher, node: Node) -> dict[str, Any]:
    """The REST view of a node with its settings, exclusions and last resources."""
    server, queue = dispatcher.node_server, dispatcher.queue
    session = server.live.get(node.id)
    view = node_view(node, queue.runs_on(node.id), node.id in server.connected())
    failures = {
        str(job_id): count
        for (job_id, node_id), count in sorted(queue.node_failures.items())
        if node_id == node.id
    }
    view.update(
        excluded_templates=sorted(node.excluded_templates),
        failures=failures,
        process_priority=node.process_priority,
        realtime_log=node.realtime_log,
        connected_since=session.connected_at if session is not None else None,
        resources=_resources_view(session.resources if session is not None else None),
    )
    return view


def _resources_view(resources: Resources | None) -> dict[str, Any] | None:
    if resources is None:
        return None
    view: dict[str, Any] = msgspec.to_builtins(resources)
    view["renders"] = [
        {
            **render,
            "ref": {"job": usage.ref.job, "chunk": usage.ref.chunk, "attempt": usage.ref.attempt},
        }
        for render, usage in zip(view["renders"], resources.renders, strict=True)
    ]
    return view


async def list_nodes(request: web.Request) -> web.StreamResponse:
    """Paged (`limit`, `after`) or streamed by node id."""
    dispatcher = request.app[DISPATCHER]
    nodes = dispatcher.queue.nodes

    def render(keys: list[int]) -> list[Any]:
        return [node_detail(dispatcher, nodes[key]) for key in keys if key in nodes]

    selection = listing.Selection.of_keys(nodes)
    return await listing.respond(request, selection, render, slice_items=listing.NODE_SLICE)


async def get_node(request: web.Request) -> web.Response:
    dispatcher = request.app[DISPATCHER]
    node = dispatcher.control.find(request.match_info["node"])
    return json_response(node_detail(dispatcher, node))


async def delete_node(request: web.Request) -> web.Response:
    dispatcher = request.app[DISPATCHER]
    require(request, Permission.MANAGE_NODES)
    node = dispatcher.control.find(request.match_info["node"])
    dispatcher.control.remove_registration(node.id)
    await dispatcher.commit("node_remove", request, node=node.id)
    return web.Response(status=204)


async def _body(request: web.Request, allowed: set[str]) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object of the action's arguments")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ValidationError(f"{unknown[0]}: not an argument of this action", field=unknown[0])
    return body


def _refs_text(verb: str, node: Node, refs: list[Any]) -> str:
    chunks = ", ".join(f"job {ref.job} chunk {ref.chunk}" for ref in refs) or "nothing running"
    return f"{verb} node {node.label}: {chunks}"


async def _kill(control: NodeControl, node: Node, args: dict[str, Any]) -> Answer:
    return Answer(True, _refs_text("killed on", node, control.kill(node.id)))


async def _kill_pause(control: NodeControl, node: Node, args: dict[str, Any]) -> Answer:
    refs = control.kill_and_pause(node.id)
    return Answer(True, _refs_text("paused and killed on", node, refs))


async def _kill_restart(control: NodeControl, node: Node, args: dict[str, Any]) -> Answer:
    refs = control.kill_and_restart(node.id)
    return Answer(True, _refs_text("restarting on", node, refs))


def _simple(call: Callable[[NodeControl, int], object], done: str) -> Action:
    """A handler for an action that takes no arguments: `done` names the node as {node}."""

    async def handler(control: NodeControl, node: Node, args: dict[str, Any]) -> Answer:
        call(control, node.id)
        return Answer(True, done.format(node=node.label))

    return handler


async def _priority(control: NodeControl, node: Node, args: dict[str, Any]) -> Answer:
    if "priority" not in args:
        raise ValidationError("priority: required (a nice value -20..19)", field="priority")
    control.set_process_priority(node.id, args["priority"])
    return Answer(True, f"process priority of node {node.label} set to {args['priority']}")


async def _purge(control: NodeControl, node: Node, args: dict[str, Any]) -> Answer:
    template, job = args.get("template"), args.get("job")
    if template is not None and not isinstance(template, str | int):
        raise ValidationError("template: must be a template key or id", field="template")
    purged: list[str] = []
    if template is not None or job is None:
        names = control.purge_template_exclusions(
            node.id, None if template is None else str(template)
        )
        purged += [f"template {name}" for name in names]
    if job is not None or template is None:
        purged += [f"job {job_id}" for job_id in control.purge_job_exclusions(node.id, job)]
    return Answer(True, f"node {node.label}: purged {', '.join(purged) or 'nothing'}")


async def _exclude(control: NodeControl, node: Node, args: dict[str, Any]) -> Answer:
    if "template" not in args:
        raise ValidationError("template: required", field="template")
    control.exclude_template(node.id, args["template"])
    return Answer(True, f"node {node.label} excludes template {args['template']}")


async def _realtime_log(control: NodeControl, node: Node, args: dict[str, Any]) -> Answer:
    if "on" not in args:
        raise ValidationError("on: required (true or false)", field="on")
    control.set_realtime_log(node.id, args["on"])
    return Answer(True, f"real-time log of node {node.label} {'on' if args['on'] else 'off'}")


async def _system_event(control: NodeControl, node: Node, args: dict[str, Any]) -> Answer:
    return await control.send_system_event(node.id, args.get("event", ""))


async def _run_python(control: NodeControl, node: Node, args: dict[str, Any]) -> Answer:
    return await control.run_python_answer(node.id, args.get("code", ""))


async def _notes(control: NodeControl, node: Node, args: dict[str, Any]) -> Answer:
    if "notes" not in args:
        raise ValidationError("notes: required", field="notes")
    control.set_notes(node.id, args["notes"])
    return Answer(True, f"notes of node {node.label} set")


# action -> (handler, arguments it takes, permission)
ACTIONS: dict[str, tuple[Action, set[str], Permission]] = {
    "kill": (_kill, set(), Permission.MANAGE_NODES),
    "kill-pause": (_kill_pause, set(), Permission.MANAGE_NODES),
    "kill-restart": (_kill_restart, set(), Permission.MANAGE_NODES),
    "pause": (_simple(NodeControl.pause, "paused node {node}"), set(), Permission.MANAGE_NODES),
    "resume": (_simple(NodeControl.resume, "resumed node {node}"), set(), Permission.MANAGE_NODES),
    "update": (
        _simple(NodeControl.force_update, "asked node {node} for its status"),
        set(),
        Permission.MANAGE_NODES,
    ),
    "soft-restart": (
        _simple(NodeControl.soft_restart, "node {node} is restarting"),
        set(),
        Permission.MANAGE_NODES,
    ),
    "remove": (
        _simple(NodeControl.remove_registration, "removed node {node}"),
        set(),
        Permission.MANAGE_NODES,
    ),
    "priority": (_priority, {"priority"}, Permission.MANAGE_NODES),
    "purge-exclusions": (_purge, {"template", "job"}, Permission.MANAGE_NODES),
    "exclude": (_exclude, {"template"}, Permission.MANAGE_NODES),
    "realtime-log": (_realtime_log, {"on"}, Permission.MANAGE_NODES),
    "system-event": (_system_event, {"event"}, Permission.MANAGE_NODES),
    "run-python": (_run_python, {"code"}, Permission.ADMINISTER),
    "notes": (_notes, {"notes"}, Permission.MANAGE_NODES),
}


async def node_action(request: web.Request) -> web.Response:
    dispatcher = request.app[DISPATCHER]
    action = request.match_info["action"]
    entry = ACTIONS.get(action)
    if entry is None:
        raise NotFound(f"no node action {action!r}; try one of {', '.join(ACTIONS)}")
    handler, allowed, permission = entry
    require(request, permission)
    node = dispatcher.control.find(request.match_info["node"])
    args = await _body(request, allowed)
    answer = await handler(dispatcher.control, node, args)
    await dispatcher.commit(f"node_{action}", request, node=node.id, ok=answer.ok)
    present = node.id in dispatcher.queue.nodes
    return json_response(
        {
            "action": action,
            "ok": answer.ok,
            "output": answer.output,
            "node": node_detail(dispatcher, node) if present else None,
        }
    )


async def kill_nodes_on_job(request: web.Request) -> web.Response:
    """Muster's nodeKillAnd{Pause,Redo,GoOn}NodesWorkingOnJob: body {"then": ...}."""
    dispatcher = request.app[DISPATCHER]
    require(request, Permission.MANAGE_NODES)
    job = dispatcher.queue.get(request.match_info["job"])
    body = await _body(request, {"then"})
    then = body.get("then")
    if not isinstance(then, str):
        raise ValidationError("then: required (pause, redo or go-on)", field="then")
    touched = dispatcher.control.kill_nodes_working_on_job(job.id, then)
    await dispatcher.commit("kill_nodes_on_job", request, job=job.id, then=then)
    names = ", ".join(dispatcher.queue.nodes[node_id].label for node_id in touched)
    output = f"job {job.id}: killed on {names or 'no node'}; then {then}"
    return json_response({"job": job.id, "then": then, "nodes": touched, "output": output})


async def list_hosts(request: web.Request) -> web.Response:
    """Per host name: its node instances, the latest resources and the renders running."""
    dispatcher = request.app[DISPATCHER]
    hosts: dict[str, dict[str, Any]] = {}
    for node in sorted(dispatcher.queue.nodes.values(), key=lambda node: node.id):
        detail = node_detail(dispatcher, node)
        host = hosts.setdefault(
            node.host or node.name,
            {"host": node.host or node.name, "nodes": [], "resources": None, "renders": 0},
        )
        host["nodes"].append({"id": node.id, "name": node.label, "online": detail["online"]})
        resources = detail["resources"]
        if resources is not None:
            host["renders"] += len(resources.get("renders") or [])
            latest = host["resources"]
            if latest is None or resources["sampled"] > latest["sampled"]:
                host["resources"] = {k: v for k, v in resources.items() if k != "renders"}
    return json_response(list(hosts.values()))


async def status(request: web.Request) -> web.Response:
    dispatcher = request.app[DISPATCHER]
    collect = request.query.get("gc") == "1"  # ?gc=1: a full collection before rss_bytes
    view = dispatcher.status(collect_garbage=collect)
    return json_response({**view, "user": current_user(request).name})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/nodes/", list_nodes)
    app.router.add_get("/api/v1/nodes/{node}", get_node)
    app.router.add_delete("/api/v1/nodes/{node}", delete_node)
    app.router.add_post("/api/v1/nodes/{node}/actions/{action}", node_action)
    app.router.add_post("/api/v1/jobs/{job}/kill-nodes", kill_nodes_on_job)
    app.router.add_get("/api/v1/hosts/", list_hosts)
    app.router.add_get("/api/v1/status", status)
