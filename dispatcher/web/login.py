"""POST /api/v1/login: a user's name and password for a bearer token (Muster's REST
has `/api/login` for the same). The only route that needs no token."""

from __future__ import annotations

import asyncio

from aiohttp import web

from dispatcher.errors import ValidationError
from dispatcher.web.app import DISPATCHER, json_response, problem, read_json

LOGIN_PATH = "/api/v1/login"
FAILED_LOGIN_DELAY_S = 0.5


async def login(request: web.Request) -> web.Response:
    dispatcher = request.app[DISPATCHER]
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ValidationError('the body must be {"username": ..., "password": ...}')
    name, password = body.get("username"), body.get("password")
    for field, value in (("username", name), ("password", password)):
        if not isinstance(value, str) or not value or len(value) > 1024:
            raise ValidationError(f"{field}: required, 1-1024 characters", field=field)
    assert isinstance(name, str) and isinstance(password, str)
    # argon2 is slow on purpose: verify off the loop so other requests go on.
    user = await asyncio.to_thread(dispatcher.users.check_password, name, password)
    if user is None:
        await asyncio.sleep(FAILED_LOGIN_DELAY_S)
        dispatcher.actions.record(name, "login_failed")
        return problem(401, "Unauthorized", "unknown user or wrong password")
    token = dispatcher.users.new_token(user)
    dispatcher.actions.record(user.name, "login")
    await dispatcher.store.commit()
    return json_response(
        {"token": token, "user": user.name, "permissions": sorted(user.permissions)}
    )


def add_routes(app: web.Application) -> None:
    app.router.add_post(LOGIN_PATH, login)
