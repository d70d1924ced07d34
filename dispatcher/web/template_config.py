"""REST routes for client configuration: per-node values of templates' configuration items.

- GET /api/v1/templates/{template}/client-config        the items, the pools' values, each node's
- GET /api/v1/nodes/{node}/template-config/{template}   one node: each layer and the result
- PUT /api/v1/nodes/{node}/template-config/{template}   set the node's values (manage-nodes)
- GET /api/v1/pools/{pool}/template-config/{template}   one pool's values and its nodes
- PUT /api/v1/pools/{pool}/template-config/{template}   set the pool's values (manage-nodes)

A PUT replaces the values set at that level for that template; `{"values": {}}`
clears them. Reading needs a token.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from dispatcher.operations import Permission
from dispatcher.web.app import json_response, operations
from dispatcher.web.endpoint import Routes, read_body

routes = Routes("template-config")

Value = StrictBool | StrictInt | StrictFloat | StrictStr


class TemplateConfigBody(BaseModel):
    """The values of the template's client configuration items at this level, by item name."""

    model_config = ConfigDict(extra="forbid")

    values: dict[StrictStr, Value] = Field(max_length=256)


class NodeTemplateConfigView(BaseModel):
    template: str
    node: str
    id: int
    online: bool
    platform: str
    node_values: dict[str, Any]
    pool_values: dict[str, dict[str, Any]]
    own_values: dict[str, Any] | None
    effective: dict[str, Any]


class PoolTemplateConfigView(BaseModel):
    template: str
    pool: str
    values: dict[str, Any]
    nodes: list[str]


class TemplateClientConfigView(BaseModel):
    template: str
    id: int
    name: str
    items: dict[str, list[dict[str, Any]]]
    pools: dict[str, dict[str, Any]]
    nodes: list[dict[str, Any]]


@routes.get("/api/v1/templates/{template}/client-config", answer=TemplateClientConfigView)
async def template_client_config(request: web.Request) -> web.Response:
    """A template's client configuration items, the pools' values and what each node has."""
    ops, actor = operations(request)
    return json_response(ops.template_config.template_config(actor, request.match_info["template"]))


@routes.get("/api/v1/nodes/{node}/template-config/{template}", answer=NodeTemplateConfigView)
async def node_template_config(request: web.Request) -> web.Response:
    """One node's client configuration for a template: node, pool and own values, the result."""
    ops, actor = operations(request)
    info = request.match_info
    return json_response(ops.template_config.node_config(actor, info["node"], info["template"]))


@routes.put(
    "/api/v1/nodes/{node}/template-config/{template}",
    body=TemplateConfigBody,
    answer=NodeTemplateConfigView,
    permission=Permission.MANAGE_NODES,
)
async def set_node_template_config(request: web.Request) -> web.Response:
    """Set a node's values of a template's client configuration items (manage-nodes).

    They replace what was set for the node and template before, reach the
    connected node at once, and win over its pools' and its own values.
    """
    ops, actor = operations(request)
    info = request.match_info
    node = ops.nodes.get(actor, info["node"])
    body: TemplateConfigBody = await read_body(request)
    view = await ops.template_config.set_template_config(
        actor, node.id, info["template"], body.values
    )
    return json_response(view)


@routes.get("/api/v1/pools/{pool}/template-config/{template}", answer=PoolTemplateConfigView)
async def pool_template_config(request: web.Request) -> web.Response:
    """A pool's values of a template's client configuration items, and its nodes."""
    ops, actor = operations(request)
    info = request.match_info
    return json_response(ops.template_config.pool_config(actor, info["pool"], info["template"]))


@routes.put(
    "/api/v1/pools/{pool}/template-config/{template}",
    body=TemplateConfigBody,
    answer=PoolTemplateConfigView,
    permission=Permission.MANAGE_NODES,
)
async def set_pool_template_config(request: web.Request) -> web.Response:
    """Set a pool's values of a template's client configuration items (manage-nodes).

    Every node in the pool gets them unless the node has its own value set
    from the dispatcher; with several pools, the pool whose name sorts first wins.
    """
    ops, actor = operations(request)
    info = request.match_info
    pool = ops.pools.pool(actor, info["pool"])["name"]
    body: TemplateConfigBody = await read_body(request)
    view = await ops.template_config.set_template_config(
        actor, pool, info["template"], body.values, pool=True
    )
    return json_response(view)


def add_routes(app: web.Application) -> None:
    routes.add_to(app)
