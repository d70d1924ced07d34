"""REST routes for a job's chunks by number (0-based), as Muster's chunk functions name
them; PyFarm's tasks (tasks.py) are the same chunks by global task id."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from dispatcher import listing
from dispatcher.operations import Permission
from dispatcher.web.app import json_response, operations
from dispatcher.web.endpoint import Routes, read_body

routes = Routes("chunks")

CHUNKS = "/api/v1/jobs/{job}/chunks"
CHUNK = CHUNKS + "/{chunk}"


class ChunkState(BaseModel):
    """A chunk's new state: queued (run it again), skipped or done."""

    model_config = ConfigDict(extra="forbid")
    state: Annotated[str, Field(max_length=32)]


def _job(request: web.Request) -> str:
    return request.match_info["job"]


@routes.get(CHUNKS + "/", query=listing.ChunkQuery)
async def list_chunks(request: web.Request) -> web.StreamResponse:
    """A job's chunks in order (`id` is the chunk's number), paged (`limit`, `after`) or
    streamed; filter `state`."""
    ops, actor = operations(request)
    selection, render = ops.chunks.listing(actor, _job(request), request.query)
    return await listing.respond(request, selection, render, slice_items=listing.CHUNK_SLICE)


@routes.get(CHUNK)
async def get_chunk(request: web.Request) -> web.Response:
    """One chunk by number, with every attempt it had (`runs`)."""
    ops, actor = operations(request)
    return json_response(await ops.chunks.get(actor, _job(request), request.match_info["chunk"]))


@routes.put(CHUNK, body=ChunkState, permission=Permission.MANAGE_OWN)
async def set_chunk_state(request: web.Request) -> web.Response:
    """Set a chunk queued, skipped or done (a running one is killed); answers the chunk."""
    ops, actor = operations(request)
    job = ops.jobs.get(actor, _job(request))
    ops.chunks.index(job, request.match_info["chunk"])  # 404 before reading the body
    body: ChunkState = await read_body(request)
    view = await ops.chunks.set_status(actor, job.id, request.match_info["chunk"], body.state)
    return json_response(view)


def add_routes(app: web.Application) -> None:
    routes.add_to(app)
