"""REST routes for templates and dispatcher-context scripts.

- GET  /api/v1/templates/         installed templates, the hooks each overrides, load errors
- POST /api/v1/templates/reload   reload the template files (administer)
- POST /api/v1/scripts/run        run a script in the hook host: {"name", "code"} (administer)
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from dispatcher.errors import ValidationError
from dispatcher.operations import Permission
from dispatcher.web.app import json_response, operations
from dispatcher.web.endpoint import Routes, read_json

routes = Routes("templates")


class ScriptBody(BaseModel):
    """A script to run in the hook host."""

    name: str = "<script>"
    code: str


@routes.get("/api/v1/templates/")
async def list_templates(request: web.Request) -> web.Response:
    """The installed templates with the hooks each overrides, load errors and the hook host."""
    ops, actor = operations(request)
    return json_response(ops.system.templates(actor))


@routes.post("/api/v1/templates/reload", permission=Permission.ADMINISTER)
async def reload_templates(request: web.Request) -> web.Response:
    """Reload the template files and restart the hook host; held jobs are asked again."""
    ops, actor = operations(request)
    return json_response(await ops.system.reload_templates(actor))


@routes.post("/api/v1/scripts/run", body=ScriptBody, permission=Permission.ADMINISTER)
async def run_script(request: web.Request) -> web.Response:
    """Run a Python script in the dispatcher context as the caller; its output and outcome."""
    ops, actor = operations(request)
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("code"), str):
        raise ValidationError("code: the script's Python text is required", field="code")
    result = await ops.system.run_script(actor, body.get("name", "<script>"), body["code"])
    return json_response(result)


def add_routes(app: web.Application) -> None:
    routes.add_to(app)
