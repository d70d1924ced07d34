"""REST routes for pools, repositories, and the pools a node is in.

A pool is named in the path by its name, or by its integer id or UUID when no
pool bears that name; a repository by its name. Reading needs a token; adding, configuring
and removing need the administer permission.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, StrictStr

from dispatcher.operations import Actor, Operations, Permission
from dispatcher.web.app import json_response, operations
from dispatcher.web.endpoint import Routes, read_body

routes = Routes("pools")


class PoolBody(BaseModel):
    """A new pool: its name, a description, the nodes (names) in it."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr
    description: StrictStr = ""
    nodes: list[StrictStr] = []


class PoolEdit(BaseModel):
    """What changes of a pool; `nodes` replaces its members."""

    model_config = ConfigDict(extra="forbid")

    description: StrictStr | None = None
    nodes: list[StrictStr] | None = None


class PoolView(BaseModel):
    id: int | None
    uuid: str | None
    name: str
    description: str
    nodes: list[str]


class RepositoryBody(BaseModel):
    """A new repository: a name and its root path per platform."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr
    description: StrictStr = ""
    windows: StrictStr = ""
    mac: StrictStr = ""
    linux: StrictStr = ""


class RepositoryEdit(BaseModel):
    """What changes of a repository."""

    model_config = ConfigDict(extra="forbid")

    description: StrictStr | None = None
    windows: StrictStr | None = None
    mac: StrictStr | None = None
    linux: StrictStr | None = None


class RepositoryView(BaseModel):
    name: str
    description: str
    windows: str
    mac: str
    linux: str


class Revision(BaseModel):
    revision: int


class PoolRename(BaseModel):
    """The pool's new name."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr


def _pool(ops: Operations, actor: Actor, text: str) -> dict[str, Any]:
    """A pool by name, or by id (all digits) or UUID when no pool bears that text as a name."""
    if text in ops.pools.names():
        return ops.pools.pool(actor, text)
    if text.isdecimal() and len(text) < 19:
        return ops.pools.pool(actor, int(text))
    if len(text) == 36 and text.count("-") == 4:
        try:
            return ops.pools.pool(actor, uuid.UUID(text))
        except ValueError:
            pass
    return ops.pools.pool(actor, text)


# -- pools -----------------------------------------------------------------------
@routes.get("/api/v1/pools/", answer=list[PoolView])
async def list_pools(request: web.Request) -> web.Response:
    """Every pool: those nodes announce and those an administrator added."""
    ops, actor = operations(request)
    return json_response(ops.pools.pools(actor))


@routes.post(
    "/api/v1/pools/", body=PoolBody, answer=PoolView, status=201, permission=Permission.ADMINISTER
)
async def add_pool(request: web.Request) -> web.Response:
    """Add a pool (administer); `nodes` are node names (`name` or `name#instance`)."""
    ops, actor = operations(request)
    body: PoolBody = await read_body(request)
    view = await ops.pools.add_pool(actor, body.model_dump())
    return json_response(view, status=201)


@routes.post("/api/v1/pools/notify", answer=Revision, permission=Permission.ADMINISTER)
async def notify_pools(request: web.Request) -> web.Response:
    """Tell following consoles that the pools changed (Muster's poolNotifyChanges): a new
    pools revision, published as an event."""
    ops, actor = operations(request)
    return json_response({"revision": await ops.pools.notify(actor, "pool")})


@routes.get("/api/v1/pools/{pool}", answer=PoolView)
async def get_pool(request: web.Request) -> web.Response:
    """One pool, by name or id."""
    ops, actor = operations(request)
    return json_response(_pool(ops, actor, request.match_info["pool"]))


@routes.patch(
    "/api/v1/pools/{pool}", body=PoolEdit, answer=PoolView, permission=Permission.ADMINISTER
)
async def configure_pool(request: web.Request) -> web.Response:
    """Change a pool's description or members (administer)."""
    ops, actor = operations(request)
    name = _pool(ops, actor, request.match_info["pool"])["name"]
    body: PoolEdit = await read_body(request)
    fields = body.model_dump(exclude_none=True)
    return json_response(await ops.pools.configure_pool(actor, {**fields, "name": name}))


@routes.post(
    "/api/v1/pools/{pool}/rename",
    body=PoolRename,
    answer=PoolView,
    permission=Permission.ADMINISTER,
)
async def rename_pool(request: web.Request) -> web.Response:
    """Rename a pool (administer); its id and UUID stay, its nodes and jobs follow."""
    ops, actor = operations(request)
    name = _pool(ops, actor, request.match_info["pool"])["name"]
    body: PoolRename = await read_body(request)
    return json_response(await ops.pools.rename_pool(actor, name, body.name))


@routes.delete("/api/v1/pools/{pool}", status=204, permission=Permission.ADMINISTER)
async def remove_pool(request: web.Request) -> web.Response:
    """Remove a pool (administer): its nodes leave it."""
    ops, actor = operations(request)
    name = _pool(ops, actor, request.match_info["pool"])["name"]
    await ops.pools.remove_pool(actor, name)
    return web.Response(status=204)


@routes.get("/api/v1/nodes/{node}/pools", answer=list[PoolView])
async def node_pools(request: web.Request) -> web.Response:
    """The pools a node is in."""
    ops, actor = operations(request)
    node = ops.nodes.get(actor, request.match_info["node"])
    return json_response([ops.pools.pool(actor, name) for name in sorted(node.pools)])


# -- repositories -----------------------------------------------------------------
@routes.get("/api/v1/repositories/", answer=list[RepositoryView])
async def list_repositories(request: web.Request) -> web.Response:
    """Every repository with its root path per platform."""
    ops, actor = operations(request)
    return json_response(ops.pools.repositories(actor))


@routes.post(
    "/api/v1/repositories/",
    body=RepositoryBody,
    answer=RepositoryView,
    status=201,
    permission=Permission.ADMINISTER,
)
async def add_repository(request: web.Request) -> web.Response:
    """Add a repository (administer)."""
    ops, actor = operations(request)
    body: RepositoryBody = await read_body(request)
    await ops.pools.add_repository(actor, body.model_dump())
    return json_response(ops.pools.repository(actor, body.name), status=201)


@routes.post("/api/v1/repositories/notify", answer=Revision, permission=Permission.ADMINISTER)
async def notify_repositories(request: web.Request) -> web.Response:
    """Tell following consoles that the repositories changed (Muster's
    repositoriesNotifyChanges): a new repositories revision, published as an event."""
    ops, actor = operations(request)
    return json_response({"revision": await ops.pools.notify(actor, "repository")})


@routes.get("/api/v1/repositories/{repository}", answer=RepositoryView)
async def get_repository(request: web.Request) -> web.Response:
    """One repository, by name."""
    ops, actor = operations(request)
    return json_response(ops.pools.repository(actor, request.match_info["repository"]))


@routes.patch(
    "/api/v1/repositories/{repository}",
    body=RepositoryEdit,
    answer=RepositoryView,
    permission=Permission.ADMINISTER,
)
async def configure_repository(request: web.Request) -> web.Response:
    """Change a repository's description or paths (administer)."""
    ops, actor = operations(request)
    name = ops.pools.repository(actor, request.match_info["repository"])["name"]
    body: RepositoryEdit = await read_body(request)
    fields = body.model_dump(exclude_none=True)
    await ops.pools.configure_repository(actor, {**fields, "name": name})
    return json_response(ops.pools.repository(actor, name))


@routes.delete("/api/v1/repositories/{repository}", status=204, permission=Permission.ADMINISTER)
async def remove_repository(request: web.Request) -> web.Response:
    """Remove a repository (administer)."""
    ops, actor = operations(request)
    await ops.pools.remove_repository(actor, request.match_info["repository"])
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    routes.add_to(app)
