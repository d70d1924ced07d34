"""REST routes for the software registry and PyFarm job types (dispatcher/software.py)."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from dispatcher.operations import Permission
from dispatcher.web.app import json_response, operations
from dispatcher.web.endpoint import Routes, read_body

routes = Routes("software")

Name = Annotated[str, Field(min_length=1, max_length=255)]


class SoftwareBody(BaseModel):
    """A software and versions of it to register."""

    model_config = ConfigDict(extra="forbid")
    software: Name
    versions: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=256
    )


class JobTypeBody(BaseModel):
    """A PyFarm job type for a template (its key or id)."""

    model_config = ConfigDict(extra="forbid")
    name: Name
    template: Annotated[str, Field(min_length=1, max_length=64)]
    version: int = Field(1, ge=1, le=1_000_000)


@routes.get("/api/v1/software/")
async def list_software(request: web.Request) -> web.Response:
    """Every known software with its versions (registered, or reported by a render node)."""
    ops, actor = operations(request)
    return json_response(ops.software.list(actor))


@routes.post("/api/v1/software/", body=SoftwareBody, status=201, permission=Permission.ADMINISTER)
async def register_software(request: web.Request) -> web.Response:
    """Register a software and versions of it (administer)."""
    ops, actor = operations(request)
    body: SoftwareBody = await read_body(request)
    return json_response(
        await ops.software.register(actor, body.software, body.versions), status=201
    )


@routes.get("/api/v1/software/{name}")
async def get_software(request: web.Request) -> web.Response:
    """One software with its versions."""
    ops, actor = operations(request)
    return json_response(ops.software.get(actor, request.match_info["name"]))


@routes.delete("/api/v1/software/{name}", status=204, permission=Permission.ADMINISTER)
async def remove_software(request: web.Request) -> web.Response:
    """Forget a software (administer)."""
    ops, actor = operations(request)
    await ops.software.remove(actor, request.match_info["name"])
    return web.Response(status=204)


@routes.get("/api/v1/jobtypes/")
async def list_jobtypes(request: web.Request) -> web.Response:
    """The registered job types and their templates."""
    ops, actor = operations(request)
    return json_response(ops.software.jobtypes(actor))


@routes.post("/api/v1/jobtypes/", body=JobTypeBody, status=201, permission=Permission.ADMINISTER)
async def register_jobtype(request: web.Request) -> web.Response:
    """Register a job type for a template (administer)."""
    ops, actor = operations(request)
    body: JobTypeBody = await read_body(request)
    view = await ops.software.register_jobtype(actor, body.name, body.template, body.version)
    return json_response(view, status=201)


@routes.delete("/api/v1/jobtypes/{name}", status=204, permission=Permission.ADMINISTER)
async def remove_jobtype(request: web.Request) -> web.Response:
    """Forget a job type (administer); jobs of it keep their template."""
    ops, actor = operations(request)
    await ops.software.remove_jobtype(actor, request.match_info["name"])
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    routes.add_to(app)
