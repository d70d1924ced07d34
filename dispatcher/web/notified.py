"""REST routes for a job's notified users (PyFarm's /api/v1/jobs/<job>/notified_users/).

The list and the add are served with and without the trailing slash; removing a
user as PyFarm writes it (`.../notified_users/<username>`) and with a slash.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from dispatcher.operations import Permission
from dispatcher.operations.notifications import NotifiedUserBody
from dispatcher.web.app import json_response, operations
from dispatcher.web.endpoint import Routes, read_json

routes = Routes("notified users")

BASE = "/api/v1/jobs/{job}/notified_users"


class NotifiedUserView(BaseModel):
    """A notified user: PyFarm's `id`, `username`, `email`, and the events they hear of."""

    model_config = ConfigDict(extra="forbid")

    id: int
    username: str
    email: str | None
    on_success: bool
    on_failure: bool
    on_deletion: bool
    webhook: str | None


def _key(request: web.Request) -> str:
    return request.match_info["job"]


async def list_notified_users(request: web.Request) -> web.Response:
    """The users told when the job ends or is deleted.

    Any user may read the list; 404 when the job does not exist."""
    ops, actor = operations(request)
    return json_response(ops.notifications.notified_users(actor, _key(request)))


async def add_notified_user(request: web.Request) -> web.Response:
    """Tell a user when the job succeeds, fails or is deleted.

    `on_success` and `on_failure` default to true, `on_deletion` to false; `webhook`
    (http or https) is called besides the user's e-mail. 201 for a new entry, 200 when
    the user was on the list already (their events are changed). Needs the job's owner
    or manage_all; 404 when the job or the user does not exist."""
    ops, actor = operations(request)
    ops.jobs.get(actor, _key(request))  # 404 before reading the body
    body = await read_json(request)
    view, new = await ops.notifications.add_notified_user(actor, _key(request), body)
    return json_response(view, status=201 if new else 200)


async def remove_notified_user(request: web.Request) -> web.Response:
    """Stop telling a user about the job.

    204 also when the user was not on the list; 404 when the job or the user does not
    exist. Needs the job's owner or manage_all."""
    ops, actor = operations(request)
    await ops.notifications.remove_notified_user(
        actor, _key(request), request.match_info["username"]
    )
    return web.Response(status=204)


for _path in (f"{BASE}/", BASE):
    routes.get(_path, answer=list[NotifiedUserView])(list_notified_users)
    routes.post(
        _path,
        body=NotifiedUserBody,
        answer=NotifiedUserView,
        status=201,
        permission=Permission.MANAGE_OWN,
    )(add_notified_user)
for _path in (BASE + "/{username}", BASE + "/{username}/"):
    routes.delete(_path, status=204, permission=Permission.MANAGE_OWN)(remove_notified_user)


def add_routes(app: web.Application) -> None:
    routes.add_to(app)
