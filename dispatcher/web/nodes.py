"""REST routes for render nodes, their actions, hosts, and the dispatcher's status.

Node actions: `POST /api/v1/nodes/{node}/actions/{action}` with a JSON object
of the action's arguments (none for most); `{node}` is an id or a name. The
answer is `{"action", "ok", "output", "node"}` where `node` is the node's view
after the action. Actions need the manage-nodes permission, run-python the
administer permission.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from dispatcher import listing
from dispatcher.errors import NotFound, ValidationError
from dispatcher.operations import Actor, Operations, Permission
from dispatcher.operations.nodes import Answer
from dispatcher.web.app import json_response, operations
from dispatcher.web.endpoint import Routes, read_json

routes = Routes("nodes")

Call = Callable[[Operations, Actor, str, dict[str, Any]], Awaitable[Answer]]


def _purge(ops: Operations, actor: Actor, key: str, args: dict[str, Any]) -> Awaitable[Answer]:
    """One template or job (`template`, `job`), every template or job (`templates`,
    `jobs`: true), any of these together; nothing named purges both kinds."""
    template, job = args.get("template"), args.get("job")
    every_template, every_job = args.get("templates") is True, args.get("jobs") is True
    named = template is not None or job is not None or every_template or every_job
    return ops.nodes.purge_exclusions(
        actor, key, templates=template is not None or every_template or not named,
        template=template, jobs=job is not None or every_job or not named, job=job,
    )  # fmt: skip


# action -> (the operation with the request's arguments, the arguments it takes)
ACTIONS: dict[str, tuple[Call, set[str]]] = {
    "kill": (lambda ops, actor, key, args: ops.nodes.kill(actor, key), set()),
    "kill-pause": (lambda ops, actor, key, args: ops.nodes.kill_and_pause(actor, key), set()),
    "kill-restart": (lambda ops, actor, key, args: ops.nodes.kill_and_restart(actor, key), set()),
    "pause": (lambda ops, actor, key, args: ops.nodes.pause(actor, key), set()),
    "resume": (lambda ops, actor, key, args: ops.nodes.resume(actor, key), set()),
    "update": (lambda ops, actor, key, args: ops.nodes.force_update(actor, key), set()),
    "soft-restart": (lambda ops, actor, key, args: ops.nodes.soft_restart(actor, key), set()),
    "remove": (lambda ops, actor, key, args: ops.nodes.remove(actor, key), set()),
    "reset-key": (lambda ops, actor, key, args: ops.nodes.reset_key(actor, key), set()),
    "priority": (
        lambda ops, actor, key, args: ops.nodes.set_priority(actor, key, args.get("priority")),
        {"priority"},
    ),
    "purge-exclusions": (_purge, {"template", "job", "templates", "jobs"}),
    "exclude": (
        lambda ops, actor, key, args: ops.nodes.exclude_template(actor, key, args.get("template")),
        {"template"},
    ),
    "realtime-log": (
        lambda ops, actor, key, args: ops.nodes.set_realtime_log(actor, key, args.get("on")),
        {"on"},
    ),
    "system-event": (
        lambda ops, actor, key, args: ops.nodes.system_event(actor, key, args.get("event", "")),
        {"event"},
    ),
    "run-python": (
        lambda ops, actor, key, args: ops.nodes.run_python(actor, key, args.get("code", "")),
        {"code"},
    ),
    "notes": (
        lambda ops, actor, key, args: ops.nodes.set_notes(actor, key, args.get("notes")),
        {"notes"},
    ),
}


class KillNodesBody(BaseModel):
    """What the nodes do after the kill: pause, redo the chunk or go on."""

    model_config = ConfigDict(extra="forbid")

    then: str | None = None


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


@routes.get("/api/v1/nodes/", query=listing.PageParams)
async def list_nodes(request: web.Request) -> web.StreamResponse:
    """The render nodes, paged (`limit`, `after`) or streamed in node id order."""
    ops, actor = operations(request)
    selection, render = ops.nodes.listing(actor)
    return await listing.respond(request, selection, render, slice_items=listing.NODE_SLICE)


@routes.get("/api/v1/nodes/{node}")
async def get_node(request: web.Request) -> web.Response:
    """One render node, by id or name, with its state and latest resources."""
    ops, actor = operations(request)
    return json_response(ops.nodes.view(ops.nodes.get(actor, request.match_info["node"])))


@routes.delete("/api/v1/nodes/{node}", status=204, permission=Permission.MANAGE_NODES)
async def delete_node(request: web.Request) -> web.Response:
    """Forget an offline render node's registration."""
    ops, actor = operations(request)
    await ops.nodes.remove(actor, request.match_info["node"])
    return web.Response(status=204)


@routes.post(
    "/api/v1/nodes/{node}/actions/{action}",
    body=dict[str, Any] | None,
    params={"action": Literal[tuple(ACTIONS)]},
    permission=Permission.MANAGE_NODES,
)
async def node_action(request: web.Request) -> web.Response:
    """Run an action on a render node (kill, pause, priority, ...); the body holds its arguments.

    Most actions need manage_nodes; `run-python` and `reset-key` need administer.
    """
    ops, actor = operations(request)
    action = request.match_info["action"]
    entry = ACTIONS.get(action)
    if entry is None:
        raise NotFound(f"no node action {action!r}; try one of {', '.join(ACTIONS)}")
    call, allowed = entry
    node = ops.nodes.get(actor, request.match_info["node"])
    answer = await call(ops, actor, str(node.id), await _body(request, allowed))
    view = ops.nodes.view(node) if ops.nodes.present(node) else None
    return json_response({"action": action, "ok": answer.ok, "output": answer.output, "node": view})


@routes.post(
    "/api/v1/jobs/{job}/kill-nodes", body=KillNodesBody, permission=Permission.MANAGE_NODES
)
async def kill_nodes_on_job(request: web.Request) -> web.Response:
    """Muster's nodeKillAnd{Pause,Redo,GoOn}NodesWorkingOnJob: body {"then": ...}."""
    ops, actor = operations(request)
    job = ops.jobs.get(actor, request.match_info["job"])
    then = (await _body(request, {"then"})).get("then")
    touched = await ops.nodes.kill_on_job(actor, job.id, then)
    names = ", ".join(ops.nodes.get(actor, node_id).label for node_id in touched)
    output = f"job {job.id}: killed on {names or 'no node'}; then {then}"
    return json_response({"job": job.id, "then": then, "nodes": touched, "output": output})


@routes.get("/api/v1/hosts/")
async def list_hosts(request: web.Request) -> web.Response:
    """Per host name: its node instances, the latest resources and the renders running."""
    ops, actor = operations(request)
    return json_response(ops.nodes.hosts(actor))


@routes.get("/api/v1/status")
async def status(request: web.Request) -> web.Response:
    """The dispatcher's counters: uptime, jobs, nodes, the store, memory (`gc=1` collects first)."""
    ops, actor = operations(request)
    collect = request.query.get("gc") == "1"  # ?gc=1: a full collection before rss_bytes
    return json_response(ops.system.status(actor, collect_garbage=collect))


def add_routes(app: web.Application) -> None:
    routes.add_to(app)
