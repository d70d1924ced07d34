"""REST routes for render nodes and the dispatcher's status."""

from __future__ import annotations

from aiohttp import web

from dispatcher.views import node_view
from dispatcher.web.app import DISPATCHER, current_user


async def list_nodes(request: web.Request) -> web.Response:
    dispatcher = request.app[DISPATCHER]
    queue, connected = dispatcher.queue, dispatcher.node_server.connected()
    views = [
        node_view(node, queue.runs_on(node.id), node.id in connected)
        for node in queue.nodes.values()
    ]
    return web.json_response(views)


async def status(request: web.Request) -> web.Response:
    dispatcher = request.app[DISPATCHER]
    return web.json_response({**dispatcher.status(), "user": current_user(request).name})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/nodes/", list_nodes)
    app.router.add_get("/api/v1/status", status)
