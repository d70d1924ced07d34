"""REST routes for templates and dispatcher-context scripts.

- GET  /api/v1/templates/         installed templates, the hooks each overrides, load errors
- POST /api/v1/templates/reload   reload the template files (administer)
- POST /api/v1/scripts/run        run a script in the hook host: {"name", "code"} (administer)
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from dispatcher.auth import Permission
from dispatcher.errors import ValidationError
from dispatcher.web.app import DISPATCHER, json_response, read_json, require
from hooks.catalog import TemplateInfo

# The dispatcher-side hooks, in the seed's order.
DISPATCHER_HOOKS = (
    "onDispatcherOverrideImpersonationUser", "onValidateJobSubmission", "onDeleteJob", "onSubmitJob",
    "onReinitJob", "onEditJob", "onJobPropertiesChanged", "onJobCompleted", "onValidateJobDependancies",
    "onValidateChunkDependancies", "onJobStart", "onJobEnd", "onDispatcherIdling",
)  # fmt: skip


def template_view(template: TemplateInfo, origin: str | None) -> dict[str, Any]:
    view = template.to_dict()
    view["hooks"] = [name for name in DISPATCHER_HOOKS if template.overrides(name)]
    view["file"] = origin
    return view


def templates_view(request: web.Request) -> dict[str, Any]:
    dispatcher = request.app[DISPATCHER]
    templates = dispatcher.templates
    return {
        "templates": [
            template_view(t, templates.origins.get(t.getKey())) for t in templates.templates
        ],
        "errors": list(templates.errors),
        "digest": templates.digest,
        "hook_host": {
            "pid": dispatcher.hook_host.pid,
            "starts": dispatcher.hook_host.starts,
            "faults": dispatcher.hook_host.faults,
        },  # fmt: skip
    }


async def list_templates(request: web.Request) -> web.Response:
    return json_response(templates_view(request))


async def reload_templates(request: web.Request) -> web.Response:
    dispatcher = request.app[DISPATCHER]
    user = require(request, Permission.ADMINISTER)
    templates = await dispatcher.reload_hooks()
    dispatcher.actions.record(user.name, "templates_reload", templates=len(templates.templates))
    await dispatcher.store.commit()
    return json_response(templates_view(request))


async def run_script(request: web.Request) -> web.Response:
    dispatcher = request.app[DISPATCHER]
    user = require(request, Permission.ADMINISTER)
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("code"), str):
        raise ValidationError("code: the script's Python text is required", field="code")
    name = body.get("name", "<script>")
    if not isinstance(name, str) or not name or len(name) > 255:
        raise ValidationError("name: a script name of at most 255 characters", field="name")
    dispatcher.actions.record(user.name, "run_script", name=name, bytes=len(body["code"]))
    result = await dispatcher.run_script(name, body["code"])
    await dispatcher.store.commit()
    return json_response(result)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/templates/", list_templates)
    app.router.add_post("/api/v1/templates/reload", reload_templates)
    app.router.add_post("/api/v1/scripts/run", run_script)
