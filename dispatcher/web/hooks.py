"""REST routes for templates and dispatcher-context scripts.

- GET  /api/v1/templates/         installed templates, the hooks each overrides, load errors
- POST /api/v1/templates/reload   reload the template files (administer)
- POST /api/v1/scripts/run        run a script in the hook host: {"name", "code"} (administer)
"""

from __future__ import annotations

from aiohttp import web

from dispatcher.errors import ValidationError
from dispatcher.web.app import json_response, operations, read_json


async def list_templates(request: web.Request) -> web.Response:
    ops, actor = operations(request)
    return json_response(ops.system.templates(actor))


async def reload_templates(request: web.Request) -> web.Response:
    ops, actor = operations(request)
    return json_response(await ops.system.reload_templates(actor))


async def run_script(request: web.Request) -> web.Response:
    ops, actor = operations(request)
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("code"), str):
        raise ValidationError("code: the script's Python text is required", field="code")
    result = await ops.system.run_script(actor, body.get("name", "<script>"), body["code"])
    return json_response(result)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/templates/", list_templates)
    app.router.add_post("/api/v1/templates/reload", reload_templates)
    app.router.add_post("/api/v1/scripts/run", run_script)
