"""POST /api/v1/login: a user's name and password for a bearer token (Muster's REST
has `/api/login` for the same). The only route that needs no token."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from dispatcher.errors import ValidationError
from dispatcher.web.app import OPERATIONS, json_response
from dispatcher.web.endpoint import Routes, read_json

routes = Routes("login")


class LoginBody(BaseModel):
    """A user's name and password."""

    username: str
    password: str


@routes.post("/api/v1/login", body=LoginBody, public=True, errors=(401,))
async def login(request: web.Request) -> web.Response:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ValidationError('the body must be {"username": ..., "password": ...}')
    accounts = request.app[OPERATIONS].accounts
    user, token = await accounts.login(body.get("username"), body.get("password"))
    return json_response(
        {"token": token, "user": user.name, "permissions": sorted(user.permissions)}
    )


def add_routes(app: web.Application) -> None:
    routes.add_to(app)
