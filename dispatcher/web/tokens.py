"""Tokens: `GET /api/v1/tokens/` lists live tokens (everyone's for an administrator,
else one's own), `DELETE /api/v1/tokens/{id}` revokes one. A token is shown by its
id, never by its value."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from dispatcher.web.app import json_response, operations
from dispatcher.web.endpoint import Routes, read_query

routes = Routes("tokens")


class TokenQuery(BaseModel):
    """`user`: only this user's tokens (another user's need administer)."""

    model_config = ConfigDict(extra="forbid")

    user: str | None = Field(None, min_length=1, max_length=255)


class TokenView(BaseModel):
    """A live token. Times are ISO 8601 UTC; `expires` is null for the admin file's token;
    `current` marks the token of the request itself."""

    id: str
    user: str
    kind: str
    created: str | None
    last_used: str | None
    expires: str | None
    current: bool


@routes.get("/api/v1/tokens/", query=TokenQuery, answer=list[TokenView])
async def list_tokens(request: web.Request) -> web.Response:
    """Live tokens: every user's for an administrator, else the caller's own."""
    ops, actor = operations(request)
    query: TokenQuery = read_query(request)
    return json_response(ops.accounts.tokens(actor, query.user))


@routes.delete("/api/v1/tokens/{id}", status=204)
async def revoke_token(request: web.Request) -> web.Response:
    """Revoke a token by its id (another user's needs administer)."""
    ops, actor = operations(request)
    await ops.accounts.revoke_token(actor, request.match_info["id"])
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    routes.add_to(app)
