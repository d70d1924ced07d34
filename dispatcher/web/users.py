"""REST routes for users and groups (the accounts' records, not their credentials).

A user or group is named in the path by its name. Reading needs a token;
adding, configuring and removing need the administer permission. No answer
carries a password hash or a token: a user's view is its name, e-mail, groups
and permissions.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from dispatcher.operations import Permission
from dispatcher.operations.accounts import user_view
from dispatcher.web.app import json_response, operations
from dispatcher.web.endpoint import Routes, read_body, read_query

routes = Routes("users")


class UserBody(BaseModel):
    """A new user; `password` lets them log in (POST /api/v1/login)."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr
    email: StrictStr = ""
    groups: list[StrictStr] = []
    permissions: list[StrictStr] = []
    password: StrictStr | None = None


class UserEdit(BaseModel):
    """What changes of a user; lists replace the user's."""

    model_config = ConfigDict(extra="forbid")

    email: StrictStr | None = None
    groups: list[StrictStr] | None = None
    permissions: list[StrictStr] | None = None
    password: StrictStr | None = None


class UserView(BaseModel):
    name: str
    email: str
    groups: list[str]
    permissions: list[str]
    ldap: bool


class GroupBody(BaseModel):
    """A new group: its permissions and its members."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr
    description: StrictStr = ""
    permissions: list[StrictStr] = []
    users: list[StrictStr] = []


class GroupEdit(BaseModel):
    """What changes of a group; lists replace the group's."""

    model_config = ConfigDict(extra="forbid")

    description: StrictStr | None = None
    permissions: list[StrictStr] | None = None
    users: list[StrictStr] | None = None


class GroupView(BaseModel):
    name: str
    description: str
    permissions: list[str]
    users: list[str]


# -- users -----------------------------------------------------------------------
class UsersQuery(BaseModel):
    """Whether the directory's users are listed too (other parameters pass)."""

    model_config = ConfigDict(extra="ignore")

    directory: bool = Field(
        False,
        description="true: after the dispatcher's users, the directory's not yet known "
        "here, named @DIRECTORY@NAME (Muster's userGetList)",
    )


@routes.get("/api/v1/users/", query=UsersQuery, answer=list[UserView])
async def list_users(request: web.Request) -> web.Response:
    """Every user: name, e-mail, groups and permissions (`directory=true`: and the
    directory's users)."""
    ops, actor = operations(request)
    query: UsersQuery = read_query(request)
    if query.directory:
        return json_response(await ops.accounts.user_list(actor))
    return json_response([user_view(user) for user in ops.accounts.users(actor)])


@routes.post(
    "/api/v1/users/", body=UserBody, answer=UserView, status=201, permission=Permission.ADMINISTER
)
async def add_user(request: web.Request) -> web.Response:
    """Add a user (administer)."""
    ops, actor = operations(request)
    body: UserBody = await read_body(request)
    user = await ops.accounts.add_user(actor, body.model_dump(exclude_none=True))
    return json_response(user_view(user), status=201)


@routes.get("/api/v1/users/{user}", answer=UserView)
async def get_user(request: web.Request) -> web.Response:
    """One user, by name."""
    ops, actor = operations(request)
    return json_response(user_view(ops.accounts.user(actor, request.match_info["user"])))


@routes.patch(
    "/api/v1/users/{user}", body=UserEdit, answer=UserView, permission=Permission.ADMINISTER
)
async def configure_user(request: web.Request) -> web.Response:
    """Change a user's e-mail, groups, permissions or password (administer)."""
    ops, actor = operations(request)
    name = ops.accounts.user(actor, request.match_info["user"]).name
    body: UserEdit = await read_body(request)
    fields = body.model_dump(exclude_none=True)
    user = await ops.accounts.configure_user(actor, {**fields, "name": name})
    return json_response(user_view(user))


@routes.delete("/api/v1/users/{user}", status=204, permission=Permission.ADMINISTER)
async def remove_user(request: web.Request) -> web.Response:
    """Remove a user (administer; `admin` stays)."""
    ops, actor = operations(request)
    await ops.accounts.remove_user(actor, request.match_info["user"])
    return web.Response(status=204)


# -- groups ----------------------------------------------------------------------
@routes.get("/api/v1/groups/", answer=list[GroupView])
async def list_groups(request: web.Request) -> web.Response:
    """Every group: its permissions and its members."""
    ops, actor = operations(request)
    return json_response(ops.accounts.groups(actor))


@routes.post(
    "/api/v1/groups/",
    body=GroupBody,
    answer=GroupView,
    status=201,
    permission=Permission.ADMINISTER,
)
async def add_group(request: web.Request) -> web.Response:
    """Add a group (administer); `users` become its members."""
    ops, actor = operations(request)
    body: GroupBody = await read_body(request)
    return json_response(await ops.accounts.add_group(actor, body.model_dump()), status=201)


@routes.get("/api/v1/groups/{group}", answer=GroupView)
async def get_group(request: web.Request) -> web.Response:
    """One group, by name."""
    ops, actor = operations(request)
    return json_response(ops.accounts.group(actor, request.match_info["group"]))


@routes.patch(
    "/api/v1/groups/{group}", body=GroupEdit, answer=GroupView, permission=Permission.ADMINISTER
)
async def configure_group(request: web.Request) -> web.Response:
    """Change a group's description, permissions or members (administer)."""
    ops, actor = operations(request)
    name = ops.accounts.group(actor, request.match_info["group"])["name"]
    body: GroupEdit = await read_body(request)
    fields = body.model_dump(exclude_none=True)
    return json_response(await ops.accounts.configure_group(actor, {**fields, "name": name}))


@routes.delete("/api/v1/groups/{group}", status=204, permission=Permission.ADMINISTER)
async def remove_group(request: web.Request) -> web.Response:
    """Remove a group (administer); its members leave it."""
    ops, actor = operations(request)
    await ops.accounts.remove_group(actor, request.match_info["group"])
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    routes.add_to(app)
