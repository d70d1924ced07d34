"""Every REST route of the dispatcher is reachable from the `corral` command: each
"METHOD /path" has its command here (or the reason it has none), and each command named
exists. A new route fails this test until it gets a row."""

from __future__ import annotations

import importlib
import pkgutil

import click

import dispatcher.web
from console.cli import main

# "METHOD /path" -> the command that calls it, or "-" and why not.
COVERED: dict[str, str] = {
    "GET /api/v1/events": "watch",
    "GET /api/v1/jobs/{job}/chunks/": "- the chunks by number (MConsoleAPI's): chunks list",
    "GET /api/v1/jobs/{job}/chunks/{chunk}": "- the chunk by number (MConsoleAPI's): chunks show",
    "PUT /api/v1/jobs/{job}/chunks/{chunk}": "- by number (MConsoleAPI's): chunks requeue",
    "GET /api/v1/nodes/{node}/dispatch-report": "nodes dispatch-report",
    "GET /api/v1/nodes/{node}/engine-settings": "nodes engine-settings",
    "PATCH /api/v1/nodes/{node}/engine-settings": "nodes engine-settings",
    "POST /api/v1/nodes/{node}/reset-failures": "nodes reset-failures",
    "GET /api/v1/system/identity": "system identity",
    "POST /api/v1/pools/notify": "pools notify",
    "POST /api/v1/pools/{pool}/rename": "pools rename",
    "POST /api/v1/repositories/notify": "repositories notify",
    "POST /api/v1/folders/": "folders create",
    "GET /api/v1/folders/{folder}": "folders show",
    "GET /api/v1/folders/{folder}/children": "folders list",
    "PATCH /api/v1/folders/{folder}": "folders rename",
    "DELETE /api/v1/folders/{folder}": "folders delete",
    "GET /api/v1/templates/": "templates list",
    "POST /api/v1/templates/reload": "templates reload",
    "POST /api/v1/scripts/run": "run-script",
    "GET /api/v1/jobs/": "jobs list",
    "POST /api/v1/jobs/": "submit",
    "GET /api/v1/jobs/schema": "jobs schema",
    "GET /api/v1/jobs/{job}": "jobs show",
    "POST /api/v1/jobs/{job}": "- the same edit as PATCH (PyFarm's spelling): jobs set",
    "PUT /api/v1/jobs/{job}": "- the same edit as PATCH (PyFarm's spelling): jobs set",
    "PATCH /api/v1/jobs/{job}": "jobs set",
    "DELETE /api/v1/jobs/{job}": "jobs delete",
    "POST /api/v1/jobs/{job}/actions/{action}": "jobs pause",
    "POST /api/v1/jobs/actions/{action}": "jobs preempt",
    "GET /api/v1/jobs/{job}/why": "why",
    "POST /api/v1/login": "login",
    "POST /api/v1/logout": "logout",
    "POST /api/v1/users/{name}/password": "users passwd",
    "GET /metrics": "stats metrics",
    "GET /api/v1/nodes/": "nodes list",
    "GET /api/v1/nodes/{node}": "nodes show",
    "DELETE /api/v1/nodes/{node}": "- the node action remove: nodes remove",
    "POST /api/v1/nodes/{node}/actions/{action}": "nodes kill",
    "POST /api/v1/jobs/{job}/kill-nodes": "jobs kill-nodes",
    "GET /api/v1/hosts/": "nodes hosts",
    "GET /api/v1/status": "system status",
    "GET /api/v1/jobs/{job}/notified_users": "jobs notify list",
    "GET /api/v1/jobs/{job}/notified_users/": "jobs notify list",
    "POST /api/v1/jobs/{job}/notified_users": "jobs notify add",
    "POST /api/v1/jobs/{job}/notified_users/": "jobs notify add",
    "DELETE /api/v1/jobs/{job}/notified_users/{username}": "jobs notify remove",
    "DELETE /api/v1/jobs/{job}/notified_users/{username}/": "jobs notify remove",
    "GET /api/v1/openapi.json": "- the API's own document, for API clients",
    "GET /api/docs": "- the API's page, for a browser",
    "GET /": "- the web console's page, for a browser",
    "GET /console/{path:.+}": "- the web console's scripts and styles, for a browser",
    "GET /api/v1/pools/": "pools list",
    "POST /api/v1/pools/": "pools create",
    "GET /api/v1/pools/{pool}": "pools show",
    "PATCH /api/v1/pools/{pool}": "pools set",
    "DELETE /api/v1/pools/{pool}": "pools delete",
    "GET /api/v1/nodes/{node}/pools": "nodes pools",
    "GET /api/v1/repositories/": "repositories list",
    "POST /api/v1/repositories/": "repositories create",
    "GET /api/v1/repositories/{repository}": "repositories show",
    "PATCH /api/v1/repositories/{repository}": "repositories set",
    "DELETE /api/v1/repositories/{repository}": "repositories delete",
    "GET /api/v1/software/": "templates software list",
    "POST /api/v1/software/": "templates software add",
    "GET /api/v1/software/{name}": "templates software show",
    "DELETE /api/v1/software/{name}": "templates software remove",
    "GET /api/v1/jobtypes/": "templates jobtypes list",
    "POST /api/v1/jobtypes/": "templates jobtypes add",
    "DELETE /api/v1/jobtypes/{name}": "templates jobtypes remove",
    "GET /api/v1/logs/": "system logs",
    "GET /api/v1/logs/dispatcher": "system logs",
    "DELETE /api/v1/logs/dispatcher": "system log-clear",
    "POST /api/v1/logs/dispatcher": "system message",
    "GET /api/v1/logs/{kind}/": "system logs",
    "GET /api/v1/logs/{kind}/{name}": "system logs",
    "DELETE /api/v1/logs/{kind}/{name}": "system log-remove",
    "GET /api/v1/logs/chunks/{job}/{chunk}": "chunks log",
    "GET /api/v1/statistics/bounds": "stats bounds",
    "GET /api/v1/statistics/": "stats samples",
    "DELETE /api/v1/statistics/": "stats clear",
    "GET /api/v1/history/bounds": "stats bounds",
    "GET /api/v1/history/": "stats history",
    "DELETE /api/v1/history/": "stats clear",
    "GET /api/v1/system/engine": "system engine",
    "PUT /api/v1/system/engine": "system engine",
    "POST /api/v1/system/engine/swap": "system engine",
    "POST /api/v1/system/soft-restart": "system soft-restart",
    "POST /api/v1/system/counters/reset": "system reset-counters",
    "POST /api/v1/system/nodes-scan": "system scan-nodes",
    "GET /api/v1/system/configuration": "config get",
    "PATCH /api/v1/system/configuration": "config set",
    "GET /api/v1/system/ldap": "config ldap",
    "PUT /api/v1/system/ldap": "config ldap-set",
    "GET /api/v1/queue/export": "system export",
    "POST /api/v1/queue/import": "system import",
    "GET /api/v1/jobs/{job}/tasks/": "chunks list",
    "GET /api/v1/jobs/{job}/tasks": "chunks list",
    "GET /api/v1/jobs/{job}/tasks/{task}": "chunks show",
    "POST /api/v1/jobs/{job}/tasks/{task}": "chunks requeue",
    "PUT /api/v1/jobs/{job}/tasks/{task}": "- the same as POST (PyFarm's spelling): chunks requeue",
    "GET /api/v1/jobs/{job}/tasks/{task}/log": "logs",
    "GET /api/v1/jobs/{job}/tasks/{task}/failed_on_agents/": "chunks failed-on",
    "POST /api/v1/jobs/{job}/tasks/{task}/failed_on_agents/": "chunks avoid",
    "DELETE /api/v1/jobs/{job}/tasks/{task}/failed_on_agents/{agent}": "chunks allow",
    "GET /api/v1/templates/{template}/client-config": "templates show",
    "GET /api/v1/nodes/{node}/template-config/{template}": "nodes template-config",
    "PUT /api/v1/nodes/{node}/template-config/{template}": "nodes template-config",
    "GET /api/v1/pools/{pool}/template-config/{template}": "nodes template-config",
    "PUT /api/v1/pools/{pool}/template-config/{template}": "nodes template-config",
    "GET /api/v1/tokens/": "tokens list",
    "DELETE /api/v1/tokens/{id}": "tokens revoke",
    "GET /api/v1/users/": "users list",
    "POST /api/v1/users/": "users create",
    "GET /api/v1/users/{user}": "users show",
    "PATCH /api/v1/users/{user}": "users set",
    "DELETE /api/v1/users/{user}": "users delete",
    "GET /api/v1/groups/": "groups list",
    "POST /api/v1/groups/": "groups create",
    "GET /api/v1/groups/{group}": "groups show",
    "PATCH /api/v1/groups/{group}": "groups set",
    "DELETE /api/v1/groups/{group}": "groups delete",
}
# Fronts for other farms' scripts, not the farm's own operations.
OTHER_FRONTS = ("muster_rest",)


def declared_routes() -> list[str]:
    found = []
    for module in pkgutil.iter_modules(dispatcher.web.__path__):
        if module.name in OTHER_FRONTS:
            continue
        routes = getattr(importlib.import_module(f"dispatcher.web.{module.name}"), "routes", None)
        for endpoint in getattr(routes, "endpoints", ()):
            found.append(f"{endpoint.method} {endpoint.path}")
    return sorted(set(found))


ROUTES = declared_routes()


def _command(path: str) -> click.Command | None:
    command: click.Command | None = main
    for word in path.split():
        if not isinstance(command, click.Group):
            return None
        command = command.commands.get(word)
    return command


def test_every_route_has_a_command() -> None:
    missing = [route for route in ROUTES if route not in COVERED]
    assert missing == [], "routes without a corral command (add one, and a row to COVERED)"
    wrong = []
    for route, target in COVERED.items():
        if target.startswith("- "):
            target = target.rsplit(": ", 1)[-1] if ": " in target else ""
        if target and _command(target) is None:
            wrong.append(f"{route}: corral {target}")
    assert wrong == [], "rows naming a command that does not exist"


def test_no_row_names_a_route_that_is_gone() -> None:
    assert sorted(set(COVERED) - set(ROUTES)) == []
