"""REST routes for what Smedge calls engines and the master: a node's engine settings
and event commands, its failure reset and dispatch report, and the dispatcher's
identity.

`{node}` is a node id or name. Reading needs a token; changing settings and
resetting failures need the manage-nodes permission.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, StrictBool, StrictFloat, StrictInt, StrictStr

from dispatcher.operations import Permission
from dispatcher.web.app import json_response, operations
from dispatcher.web.endpoint import Routes, read_body

routes = Routes("engines")

SettingValue = StrictStr | StrictInt | StrictFloat | StrictBool | None


class EngineSettingsBody(BaseModel):
    """Settings to change by name; null (or an empty event command) removes one."""

    model_config = ConfigDict(extra="forbid")

    settings: dict[str, SettingValue]


class EngineSettingsView(BaseModel):
    node: str
    id: int
    uuid: str
    settings: dict[str, str]


class ResetView(BaseModel):
    node: str
    uuid: str
    jobs: list[int]


class ReportView(BaseModel):
    node: str
    uuid: str
    report: str
    events: list[dict[str, object]]


class IdentityView(BaseModel):
    uuid: str
    version: str
    started: float


@routes.get("/api/v1/system/identity", answer=IdentityView)
async def identity(request: web.Request) -> web.Response:
    """The dispatcher's stable UUID (made on its first start), version and start time."""
    ops, actor = operations(request)
    return json_response(ops.engines.identity(actor))


@routes.get("/api/v1/nodes/{node}/engine-settings", answer=EngineSettingsView)
async def engine_settings(request: web.Request) -> web.Response:
    """A node's engine settings and event commands."""
    ops, actor = operations(request)
    return json_response(ops.engines.view(actor, request.match_info["node"]))


@routes.patch(
    "/api/v1/nodes/{node}/engine-settings",
    body=EngineSettingsBody,
    answer=EngineSettingsView,
    permission=Permission.MANAGE_NODES,
)
async def set_engine_settings(request: web.Request) -> web.Response:
    """Change a node's engine settings and event commands (manage-nodes)."""
    ops, actor = operations(request)
    body: EngineSettingsBody = await read_body(request)
    view = await ops.engines.configure(actor, request.match_info["node"], body.settings)
    return json_response(view)


@routes.post(
    "/api/v1/nodes/{node}/reset-failures", answer=ResetView, permission=Permission.MANAGE_NODES
)
async def reset_failures(request: web.Request) -> web.Response:
    """Forget a node's failure counts and job exclusions (manage-nodes)."""
    ops, actor = operations(request)
    return json_response(await ops.engines.reset_failures(actor, request.match_info["node"]))


@routes.get("/api/v1/nodes/{node}/dispatch-report", answer=ReportView)
async def dispatch_report(request: web.Request) -> web.Response:
    """Why a node takes work or not, what it runs, and its last event commands' outcomes."""
    ops, actor = operations(request)
    return json_response(ops.engines.dispatch_report(actor, request.match_info["node"]))


def add_routes(app: web.Application) -> None:
    routes.add_to(app)
