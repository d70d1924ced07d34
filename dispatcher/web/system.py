"""REST routes for the dispatcher as a whole, and the queue's export and import.

- the engine (`/api/v1/system/engine`): running or paused (no new assignments);
- soft restart, statistics counters reset, the nodes network scan;
- the configuration (live settings) and the LDAP configuration, each set with
  a `store` flag that keeps it for the next start;
- `/api/v1/queue/export` (Corral's snapshot text) and `/api/v1/queue/import`
  (that text back, replacing the whole queue).

Reading needs a token; every change needs the administer permission, the
network scan manage-nodes.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, StrictBool

from dispatcher.errors import ValidationError
from dispatcher.operations import Permission
from dispatcher.web.app import json_response, operations
from dispatcher.web.endpoint import Routes, read_body

routes = Routes("system")


class Engine(BaseModel):
    """Whether the engine assigns work (false: paused)."""

    model_config = ConfigDict(extra="forbid")

    running: StrictBool


class SettingsBody(BaseModel):
    """Settings to change (`values`, by name) and whether they outlive a restart."""

    model_config = ConfigDict(extra="forbid")

    values: dict[str, Any]
    store: StrictBool = False


class Configuration(BaseModel):
    values: dict[str, Any]
    live: list[str]


class Changed(BaseModel):
    changed: list[str]


class ScanAnswer(BaseModel):
    answered: int


class ImportAnswer(BaseModel):
    jobs: int


def _engine(running: bool) -> web.Response:
    return json_response({"running": running})


# -- the engine and the dispatcher -------------------------------------------------
@routes.get("/api/v1/system/engine", answer=Engine)
async def engine_status(request: web.Request) -> web.Response:
    """Whether the engine assigns work to the render nodes (false: paused)."""
    ops, actor = operations(request)
    return _engine(ops.system.engine_running(actor))


@routes.put("/api/v1/system/engine", body=Engine, answer=Engine, permission=Permission.ADMINISTER)
async def set_engine(request: web.Request) -> web.Response:
    """Run or pause the engine (administer)."""
    ops, actor = operations(request)
    body: Engine = await read_body(request)
    return _engine(await ops.system.set_engine(actor, body.running))


@routes.post("/api/v1/system/engine/swap", answer=Engine, permission=Permission.ADMINISTER)
async def swap_engine(request: web.Request) -> web.Response:
    """Pause a running engine, run a paused one (administer)."""
    ops, actor = operations(request)
    return _engine(await ops.system.set_engine(actor, not ops.system.engine_running(actor)))


@routes.post("/api/v1/system/soft-restart", status=204, permission=Permission.ADMINISTER)
async def soft_restart(request: web.Request) -> web.Response:
    """Reload templates and stored settings, restart the hook host; work goes on (administer)."""
    ops, actor = operations(request)
    await ops.system.soft_restart(actor)
    return web.Response(status=204)


@routes.post("/api/v1/system/counters/reset", status=204, permission=Permission.ADMINISTER)
async def reset_counters(request: web.Request) -> web.Response:
    """Zero the statistics counters (results, assignments, hook faults, API calls)."""
    ops, actor = operations(request)
    await ops.system.reset_counters(actor)
    return web.Response(status=204)


@routes.post("/api/v1/system/nodes-scan", answer=ScanAnswer, permission=Permission.MANAGE_NODES)
async def scan_nodes(request: web.Request) -> web.Response:
    """Probe the discovery addresses and register the render clients that answer."""
    ops, actor = operations(request)
    return json_response({"answered": await ops.system.scan_nodes(actor)})


# -- configuration ------------------------------------------------------------------
@routes.get("/api/v1/system/configuration", answer=Configuration)
async def configuration(request: web.Request) -> web.Response:
    """Every setting's value, and the names of those that can change while it runs."""
    ops, actor = operations(request)
    return json_response(ops.system.configuration(actor))


@routes.patch(
    "/api/v1/system/configuration",
    body=SettingsBody,
    answer=Changed,
    permission=Permission.ADMINISTER,
)
async def configure(request: web.Request) -> web.Response:
    """Change live settings now; `store` keeps them for the next start (administer)."""
    ops, actor = operations(request)
    body: SettingsBody = await read_body(request)
    changed = await ops.system.configure(actor, body.values, store=body.store)
    return json_response({"changed": changed})


@routes.get("/api/v1/system/ldap")
async def ldap_configuration(request: web.Request) -> web.Response:
    """The LDAP configuration (`bind_password` is never answered)."""
    ops, actor = operations(request)
    return json_response(ops.system.ldap_configuration(actor))


@routes.put("/api/v1/system/ldap", body=SettingsBody, permission=Permission.ADMINISTER)
async def configure_ldap(request: web.Request) -> web.Response:
    """Replace the LDAP configuration; `store` keeps it for the next start (administer)."""
    ops, actor = operations(request)
    body: SettingsBody = await read_body(request)
    await ops.system.configure_ldap(actor, body.values, store=body.store)
    return json_response(ops.system.ldap_configuration(actor))


# -- the queue as a whole -------------------------------------------------------------
@routes.get("/api/v1/queue/export", content_type="text/plain")
async def export_queue(request: web.Request) -> web.Response:
    """The whole queue in Corral's export format (text), for POST /api/v1/queue/import."""
    ops, actor = operations(request)
    text = ops.system.export_queue(actor)
    response = web.Response(text=text, content_type="text/plain", charset="utf-8")
    response.headers["Content-Disposition"] = 'attachment; filename="corral-queue.sql"'
    return response


@routes.post(
    "/api/v1/queue/import", body=bytes, answer=ImportAnswer, permission=Permission.ADMINISTER
)
async def import_queue(request: web.Request) -> web.Response:
    """Replace the whole queue with an export's text, checked whole first (administer)."""
    ops, actor = operations(request)
    data: bytes = await read_body(request)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("the body is not UTF-8 text") from None
    return json_response({"jobs": await ops.system.import_queue(actor, text)})


def add_routes(app: web.Application) -> None:
    routes.add_to(app)
