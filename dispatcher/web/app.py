"""The aiohttp application: REST /api/v1, bearer auth, problem+json errors."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from dispatcher import http_errors
from dispatcher.errors import (
    AuthenticationFailed,
    Busy,
    Conflict,
    CorralError,
    DataDirLocked,
    DirectoryUnavailable,
    LimitExceeded,
    NotFound,
    NotLeader,
    PermissionDenied,
    Refused,
    StartupError,
    StoreError,
    StoreUnavailable,
    TemplateError,
    TooManyAttempts,
    ValidationError,
)
from dispatcher.operations import Actor, Operations
from dispatcher.web.endpoint import endpoint_of

log = logging.getLogger(__name__)

OPERATIONS: web.AppKey[Operations] = web.AppKey("operations")
ACTOR_KEY: web.RequestKey[Actor] = web.RequestKey("actor", Actor)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


_encoder = msgspec.json.Encoder()


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON answer encoded with msgspec (several times faster than json for big listings)."""
    return web.Response(body=_encoder.encode(data), status=status, content_type="application/json")


def problem(status: int, title: str, detail: str, **extra: Any) -> web.Response:
    """An RFC 9457 problem+json answer."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/problem+json"
    )


# The one table from Corral's exceptions to HTTP: every class of dispatcher/errors.py has
# its row (a test checks it); a subclass without its own row takes its parent's.
_STATUS: list[tuple[type[CorralError], int, str]] = [
    (ValidationError, 400, "Bad Request"),
    (NotFound, 404, "Not Found"),
    (Conflict, 409, "Conflict"),
    (Refused, 422, "Refused by template"),
    (PermissionDenied, 403, "Forbidden"),
    (StoreError, 503, "Store unavailable"),
    (StoreUnavailable, 503, "Store unavailable"),  # with Retry-After
    (NotLeader, 503, "Not the leader"),  # (fenced as it stepped down: ask the new one)
    (StartupError, 503, "Store unavailable"),
    (DataDirLocked, 503, "Store unavailable"),
    (TemplateError, 502, "Template failed"),
    (AuthenticationFailed, 401, "Unauthorized"),
    (LimitExceeded, 422, "Limit exceeded"),
    (Busy, 503, "Service Unavailable"),
    (TooManyAttempts, 429, "Too Many Requests"),  # with Retry-After
    (DirectoryUnavailable, 503, "Directory unavailable"),
    (CorralError, 500, "Internal Server Error"),
]


def status_for(exc: CorralError) -> tuple[int, str]:
    """The HTTP status and title of an exception: the row of its nearest class."""
    rows = {kind: (status, title) for kind, status, title in _STATUS}
    for kind in type(exc).__mro__:
        if kind in rows:
            return rows[kind]
    raise AssertionError(f"no HTTP status for {type(exc).__name__}")  # CorralError has a row


def error_response(exc: CorralError) -> web.Response:
    """The one place errors become HTTP answers."""
    status, title = status_for(exc)
    if isinstance(exc, StoreUnavailable):  # the store retries by itself: say when
        response = problem(status, title, str(exc), cause=exc.cause)
        response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
        return response
    if isinstance(exc, TooManyAttempts):  # failed logins: say when to try again
        response = problem(status, title, str(exc))
        response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
        return response
    extra = {"field": exc.field} if isinstance(exc, ValidationError) and exc.field else {}
    if isinstance(exc, LimitExceeded):
        extra = {"limit": exc.limit, "value": exc.value}
    return problem(status, title, str(exc), **extra)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except CorralError as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem(exc.status, exc.reason, exc.text or exc.reason)
    except Exception:
        log.exception("action=http_error method=%s path=%s", request.method, request.path)
        return problem(
            500, "Internal Server Error", "the dispatcher hit an unexpected error; see its log"
        )


SESSION_COOKIE = "corral_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def bearer_token(request: web.Request) -> str | None:
    """The token of an `Authorization: Bearer` header, else of Muster's `authToken` query
    parameter when there is no Authorization header; None when neither is given."""
    header = request.headers.get("Authorization", "")
    if not header:  # Muster's REST clients send the token as ?authToken=
        return request.query.get("authToken")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Who the request is from: a bearer token (scripts), or else the session cookie
    (browsers), whose writes must carry the session's CSRF token."""
    endpoint = endpoint_of(request.match_info.route.handler)
    if endpoint is not None and endpoint.public:
        return await handler(request)  # logging in, the API document
    accounts = request.app[OPERATIONS].accounts
    actor = None
    token = bearer_token(request)
    if token is not None:
        if token and token.isascii():  # tokens are ASCII
            actor = accounts.authenticate(token)
    elif SESSION_COOKIE in request.cookies:
        cookie = request.cookies[SESSION_COOKIE]
        if cookie and cookie.isascii():
            write = request.method not in SAFE_METHODS
            actor = accounts.authenticate_session(
                cookie, request.headers.get(CSRF_HEADER), write=write
            )
    if actor is None:
        response = problem(
            401,
            "Unauthorized",
            "a valid 'Authorization: Bearer TOKEN' header, authToken query parameter or "
            "session cookie is required (the token may have expired or been revoked)",
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="corral"'
        return response
    request[ACTOR_KEY] = actor
    if endpoint is not None and endpoint.permission is not None:
        actor.require(endpoint.permission)  # the declared need, before any lookup or body
    return await handler(request)


LEADER_URL: web.AppKey[Callable[[], str]] = web.AppKey("leader_url")


@web.middleware
async def standby_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """On a standby dispatcher (docs/scaling.md): reads are answered here, from the
    farm as last read from the database; every write is a 307 redirect to the leader
    (the same method, path, query and body), or 503 while no leader is known."""
    if request.method in SAFE_METHODS:
        return await handler(request)
    leader = request.app[LEADER_URL]()
    if not leader:
        response = problem(
            503,
            "Service Unavailable",
            "this dispatcher is a standby and no leader is known yet; try again shortly",
        )
        response.headers["Retry-After"] = "1"
        return response
    location = leader.rstrip("/") + request.path_qs
    return web.Response(
        status=307,
        headers={"Location": location},
        text=f"this dispatcher is a standby: send writes to the leader, {location}\n",
    )


def actor_of(request: web.Request) -> Actor:
    """The user making the request, as the operations' actor."""
    return request[ACTOR_KEY]


def operations(request: web.Request) -> tuple[Operations, Actor]:
    """The operations and the request's actor: what every route needs."""
    return request.app[OPERATIONS], actor_of(request)


def make_app(
    ops: Operations,
    *,
    max_request_bytes: int,
    leader_url: Callable[[], str] | None = None,
) -> web.Application:
    """The HTTP API. `leader_url`: on a standby, where writes go (the leader's URL,
    '' while none is known): see `standby_middleware`."""
    from dispatcher.web import (
        chunks,
        engines,
        events,
        folders,
        hooks,
        jobs,
        login,
        metrics,
        muster_rest,
        nodes,
        notified,
        openapi,
        pools,
        pyfarm_software,
        records,
        system,
        tasks,
        template_config,
        tokens,
        users,
        webconsole,
    )

    http_errors.quiet_bad_requests()

    middlewares = [muster_rest.muster_errors, errors_middleware, auth_middleware]
    if leader_url is not None:
        middlewares.insert(0, standby_middleware)
    app = web.Application(middlewares=middlewares, client_max_size=max_request_bytes)
    app[OPERATIONS] = ops
    if leader_url is not None:
        app[LEADER_URL] = leader_url
    modules = (
        jobs,
        tasks,
        chunks,
        pyfarm_software,
        login,
        nodes,
        engines,
        hooks,
        folders,
        pools,
        users,
        records,
        system,
        notified,
        muster_rest,
        events,
        metrics,
        openapi,
        tokens,
        template_config,
        webconsole,
    )
    for module in modules:
        module.add_routes(app)
    return app
