"""Logging in and out, and passwords.

`POST /api/v1/login` trades a user's name and password for a bearer token (Muster's
REST has `/api/login` for the same); with `"cookie": true` it sets a session
cookie instead, for browsers (HttpOnly, SameSite=Strict, Secure over TLS), and
answers the CSRF token that writes made with the cookie must carry in the
`X-CSRF-Token` header. It is the only route that needs no token.
`POST /api/v1/logout` revokes the token (or session) the request came with.
`POST /api/v1/users/{name}/password` sets a password.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from dispatcher.web.app import OPERATIONS, SESSION_COOKIE, json_response, operations
from dispatcher.web.endpoint import Routes, read_body

routes = Routes("login")

MAX_CHARS = 1024


class LoginBody(BaseModel):
    """A user's name and password; `cookie` asks for a browser session instead of a token."""

    model_config = ConfigDict(extra="forbid", strict=True)

    username: str = Field(min_length=1, max_length=MAX_CHARS)
    password: str = Field(min_length=1, max_length=MAX_CHARS)
    cookie: bool = False


class LoginAnswer(BaseModel):
    """`token` for a bearer login; `csrf_token` (and the cookie) for a session login."""

    user: str
    permissions: list[str]
    token: str | None = None
    csrf_token: str | None = None
    expires_in_s: float


class PasswordBody(BaseModel):
    """The new password; `old_password` is required unless an administrator sets it."""

    model_config = ConfigDict(extra="forbid", strict=True)

    password: str = Field(min_length=1, max_length=MAX_CHARS)
    old_password: str | None = Field(None, max_length=MAX_CHARS)


class LogoutAnswer(BaseModel):
    revoked: str


@routes.post("/api/v1/login", body=LoginBody, answer=LoginAnswer, public=True, errors=(401, 429))
async def login(request: web.Request) -> web.Response:
    """Log in with a password: a bearer token, or a session cookie and its CSRF token."""
    body: LoginBody = await read_body(request)
    accounts = request.app[OPERATIONS].accounts
    address = request.remote or ""
    ttl_s = accounts.token_ttl_s
    if not body.cookie:
        user, token = await accounts.login(body.username, body.password, address=address)
        actor = accounts.actor_for(user)
        return json_response({"token": token, "user": user.name, "expires_in_s": ttl_s,
                              "permissions": sorted(actor.permissions)})  # fmt: skip
    user, token, csrf = await accounts.login_session(body.username, body.password, address=address)
    actor = accounts.actor_for(user)
    response = json_response({"user": user.name, "csrf_token": csrf, "expires_in_s": ttl_s,
                              "permissions": sorted(actor.permissions)})  # fmt: skip
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(ttl_s),
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )
    return response


@routes.post("/api/v1/logout", answer=LogoutAnswer)
async def logout(request: web.Request) -> web.Response:
    """Revoke the token or session cookie this request came with."""
    ops, actor = operations(request)
    revoked = await ops.accounts.logout(actor)
    response = json_response({"revoked": revoked})
    if SESSION_COOKIE in request.cookies:
        response.del_cookie(SESSION_COOKIE, path="/")
    return response


@routes.post("/api/v1/users/{name}/password", body=PasswordBody, status=204)
async def set_password(request: web.Request) -> web.Response:
    """Set a user's password (administer for another user's; your own needs the old one)."""
    ops, actor = operations(request)
    ops.accounts.user(actor, request.match_info["name"])  # 404 before reading the body
    body: PasswordBody = await read_body(request)
    await ops.accounts.set_password(
        actor, request.match_info["name"], body.password, body.old_password
    )
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    routes.add_to(app)
