"""REST routes for a job's tasks (PyFarm's name for chunks), addressed by global task id,
and the render nodes each task failed on."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from dispatcher import listing
from dispatcher.errors import ValidationError
from dispatcher.model import parse_id
from dispatcher.operations import Permission
from dispatcher.web.app import json_response, operations
from dispatcher.web.endpoint import Routes, read_body

routes = Routes("tasks")

TASKS = "/api/v1/jobs/{job}/tasks"
TASK = TASKS + "/{task}"


class TaskUpdate(BaseModel):
    """A task's new state: queued, skipped or done; `running` confirms a running task."""

    model_config = ConfigDict(extra="forbid")
    state: Annotated[str, Field(max_length=32)]


class AgentRef(BaseModel):
    """A render node by its `uuid` (PyFarm's agent id)."""

    model_config = ConfigDict(extra="forbid")
    id: Annotated[str, Field(min_length=1, max_length=64)]


def _key(request: web.Request) -> str:
    return request.match_info["job"]


def _task(request: web.Request) -> str:
    return request.match_info["task"]


async def _list(request: web.Request) -> web.StreamResponse:
    ops, actor = operations(request)
    selection, render = ops.chunks.task_listing(actor, _key(request), request.query)
    return await listing.respond(request, selection, render, slice_items=listing.CHUNK_SLICE)


@routes.get(TASKS + "/", query=listing.ChunkQuery)
async def list_tasks(request: web.Request) -> web.StreamResponse:
    """A job's tasks, paged (`limit`, `after`) or streamed in chunk order; filter `state`."""
    return await _list(request)


@routes.get(TASKS, query=listing.ChunkQuery)
async def list_tasks_bare(request: web.Request) -> web.StreamResponse:
    """A job's tasks (as with the trailing slash)."""
    return await _list(request)


@routes.get(TASK)
async def get_task(request: web.Request) -> web.Response:
    """One task by its global id, with every attempt it had (`runs`)."""
    ops, actor = operations(request)
    return json_response(await ops.chunks.task_view(actor, _key(request), _task(request)))


async def _update(request: web.Request) -> web.Response:
    ops, actor = operations(request)
    ops.chunks.task(actor, _key(request), _task(request))  # 404 before reading the body
    body: TaskUpdate = await read_body(request)
    view = await ops.chunks.set_task_state(actor, _key(request), _task(request), body.state)
    return json_response(view)


@routes.post(TASK, body=TaskUpdate, permission=Permission.MANAGE_OWN)
async def update_task(request: web.Request) -> web.Response:
    """Set a task queued (run it again), skipped or done; `running` confirms it runs."""
    return await _update(request)


@routes.put(TASK, body=TaskUpdate, permission=Permission.MANAGE_OWN)
async def put_task(request: web.Request) -> web.Response:
    """Update a task (as POST)."""
    return await _update(request)


@routes.get(TASK + "/log", content_type="text/plain")
async def task_log(request: web.Request) -> web.Response:
    """A task's output (its latest attempt, or `attempt`)."""
    ops, actor = operations(request)
    attempt_text = request.query.get("attempt")
    attempt = parse_id(attempt_text) if attempt_text is not None else None
    if attempt_text is not None and attempt is None:
        raise ValidationError("attempt: must be a whole number", field="attempt")
    job, index = ops.chunks.task(actor, _key(request), _task(request))
    data = await ops.chunks.log(actor, job.id, index, attempt)
    return web.Response(body=data, content_type="text/plain", charset="utf-8")


@routes.get(TASK + "/failed_on_agents/")
async def failed_on_agents(request: web.Request) -> web.Response:
    """The render nodes this task failed on (`id` is the node's uuid)."""
    ops, actor = operations(request)
    return json_response(ops.chunks.failed_on(actor, _key(request), _task(request)))


@routes.post(
    TASK + "/failed_on_agents/", body=AgentRef, status=201, permission=Permission.MANAGE_OWN
)
async def add_failed_on_agent(request: web.Request) -> web.Response:
    """Record that this task failed on a render node; its retries avoid that node."""
    ops, actor = operations(request)
    ops.chunks.task(actor, _key(request), _task(request))
    body: AgentRef = await read_body(request)
    view = await ops.chunks.add_failed_on(actor, _key(request), _task(request), body.id)
    return json_response(view, status=201)


@routes.delete(TASK + "/failed_on_agents/{agent}", status=204, permission=Permission.MANAGE_OWN)
async def remove_failed_on_agent(request: web.Request) -> web.Response:
    """Let this task run on the render node again."""
    ops, actor = operations(request)
    agent = request.match_info["agent"]
    await ops.chunks.remove_failed_on(actor, _key(request), _task(request), agent)
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    routes.add_to(app)
