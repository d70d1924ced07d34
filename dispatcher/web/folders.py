"""REST routes for folders: jobs of kind `folder` that hold jobs and other folders.

A folder is named by its id or title in the path (an all-digit value is an id);
`-1` (or `0`) names the top of the tree where a parent is meant. Making one needs
the submit permission, renaming, moving or deleting one the same rights as any
job of its owner's (manage-own or manage-all).
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from dispatcher import listing
from dispatcher.errors import ValidationError
from dispatcher.model import ROOT_PARENT
from dispatcher.operations import Permission
from dispatcher.views import job_view
from dispatcher.web.app import json_response, operations
from dispatcher.web.endpoint import Routes, read_body, read_query

routes = Routes("folders")


class FolderBody(BaseModel):
    """A new folder: its title and the folder it goes in."""

    model_config = ConfigDict(extra="forbid")

    title: StrictStr
    parent: StrictInt = Field(ROOT_PARENT, description="a folder id; -1 or 0 is the top")
    owner: StrictStr | None = Field(
        None, description="whom it belongs to (default: you; another user needs manage-all)"
    )


class FolderEdit(BaseModel):
    """A new title (rename), a new parent (move), or both."""

    model_config = ConfigDict(extra="forbid")

    title: StrictStr | None = None
    parent: StrictInt | None = Field(None, description="a folder id; -1 or 0 is the top")


class ChildrenQuery(listing.PageParams):
    """The page of a folder's children."""

    model_config = ConfigDict(extra="forbid")


def _key(request: web.Request) -> int | str:
    text = request.match_info["folder"]
    return ROOT_PARENT if text in ("-1", "0") else text


@routes.post("/api/v1/folders/", body=FolderBody, status=201, permission=Permission.SUBMIT)
async def add_folder(request: web.Request) -> web.Response:
    """Make a folder; the answer is its job view (`kind` is `folder`)."""
    ops, actor = operations(request)
    body: FolderBody = await read_body(request)
    owner = actor.name if body.owner is None else body.owner
    folder = await ops.jobs.add_folder(actor, body.parent, body.title, owner)
    response = json_response(job_view(folder), status=201)
    response.headers["Location"] = f"/api/v1/folders/{folder.id}"
    return response


@routes.get("/api/v1/folders/{folder}")
async def get_folder(request: web.Request) -> web.Response:
    """One folder, by id or title."""
    ops, actor = operations(request)
    key = request.match_info["folder"]
    return json_response(job_view(ops.jobs.folder(actor, key)))


@routes.get("/api/v1/folders/{folder}/children", query=ChildrenQuery)
async def list_children(request: web.Request) -> web.StreamResponse:
    """The jobs and folders right inside a folder (`-1`: the top), paged or streamed."""
    ops, actor = operations(request)
    read_query(request)
    selection, render = ops.jobs.children(actor, _key(request))
    return await listing.respond(request, selection, render, slice_items=listing.JOB_SLICE)


@routes.patch("/api/v1/folders/{folder}", body=FolderEdit, permission=Permission.MANAGE_OWN)
async def edit_folder(request: web.Request) -> web.Response:
    """Rename a folder (`title`) or move it into another folder (`parent`)."""
    ops, actor = operations(request)
    folder = ops.jobs.folder(actor, request.match_info["folder"])
    body: FolderEdit = await read_body(request)
    fields = body.model_dump(exclude_none=True)
    if not fields:
        raise ValidationError("give a new title, a new parent, or both")
    return json_response(job_view(await ops.jobs.edit(actor, folder.id, fields)))


@routes.delete("/api/v1/folders/{folder}", status=204, permission=Permission.MANAGE_OWN)
async def delete_folder(request: web.Request) -> web.Response:
    """Delete an empty folder (409 while it holds anything)."""
    ops, actor = operations(request)
    folder = ops.jobs.folder(actor, request.match_info["folder"])
    await ops.jobs.delete(actor, folder.id)
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    routes.add_to(app)
