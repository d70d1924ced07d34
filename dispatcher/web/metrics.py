"""GET /metrics (Prometheus text format), and the HTTP latency of every route.

Prometheus scrapers usually carry no token: with the `metrics_public` setting the
route answers without one; otherwise it needs a bearer token like the API (any
user). The latency middleware labels each request with its route's declared path
(`/api/v1/jobs/{job}`), never the raw URL, so the number of series stays bounded.
"""

from __future__ import annotations

import time

from aiohttp import web

from dispatcher.operations import Actor
from dispatcher.web.app import OPERATIONS, Handler
from dispatcher.web.endpoint import Routes

routes = Routes("metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _bearer_actor(request: web.Request) -> Actor | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or not token.isascii():
        return None
    actor: Actor | None = request.app[OPERATIONS].accounts.authenticate(token)
    return actor


# Public to the token check in front of every route: the handler asks for the token
# itself unless the dispatcher runs with metrics_public, hence its 401.
@routes.get("/metrics", public=True, content_type=CONTENT_TYPE, errors=(401,))
async def metrics(request: web.Request) -> web.Response:
    """Prometheus metrics (a bearer token unless metrics_public is set).

    Jobs, chunks and nodes by state, chunk counters, dispatch, store-commit,
    loop-lag, hook-call and HTTP latency histograms.
    """
    body = request.app[OPERATIONS].metrics.scrape(_bearer_actor(request))
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def route_of(request: web.Request) -> str:
    """The declared path of the route that served the request ("unmatched": none)."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def latency_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        request.app[OPERATIONS].metrics.observe_request(
            request.method, route_of(request), status, time.perf_counter() - started
        )


def add_routes(app: web.Application) -> None:
    app.middlewares.insert(0, latency_middleware)  # outermost: it sees every answer
    routes.add_to(app)
