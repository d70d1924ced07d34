"""MConsoleAPI, Corral's extension: templates' client configuration of nodes and pools,
over the REST template-config routes (as MDispatcherAPI's four functions)."""

from __future__ import annotations

from typing import Any

from console.consoleapi.transport import bad_argument, call, get, segment, send
from corral_client import Client

__all__ = [
    "nodeGetTemplateConfiguration",
    "nodeSetTemplateConfiguration",
    "poolGetTemplateConfiguration",
    "poolSetTemplateConfiguration",
]


def _template_ok(template: object) -> bool:
    return isinstance(template, str | int) and not isinstance(template, bool)


def _node_path(node_id: object, template: object) -> str | None:
    if isinstance(node_id, bool) or not isinstance(node_id, int) or not _template_ok(template):
        return None
    return f"/nodes/{node_id}/template-config/{segment(template)}"


def _pool_path(pool: object, template: object) -> str | None:
    if not isinstance(pool, str) or not pool.strip() or not _template_ok(template):
        return None
    return f"/pools/{segment(pool)}/template-config/{segment(template)}"


def _put(function: str, path: str, values: dict[str, Any]) -> Any:
    def work(client: Client) -> tuple[Any, ...]:
        send(client, "PUT", path, {"values": values})
        return ()

    return call(function, (), work)


def nodeGetTemplateConfiguration(id: int, template: int | str) -> Any:
    """`err, view`: a node's client configuration for a template (key or id), as a dict."""
    path = _node_path(id, template)
    if path is None:
        return bad_argument(
            "nodeGetTemplateConfiguration", "needs a node id and a template key or id", (None,)
        )
    return call("nodeGetTemplateConfiguration", (None,), lambda client: (get(client, path),))


def nodeSetTemplateConfiguration(id: int, template: int | str, values: dict[str, Any]) -> Any:
    """`err`: set a node's values for a template's client configuration ({} clears them)."""
    path = _node_path(id, template)
    if path is None or not isinstance(values, dict):
        return bad_argument(
            "nodeSetTemplateConfiguration",
            "needs a node id, a template key or id and a dict of item values",
            (),
        )
    return _put("nodeSetTemplateConfiguration", path, values)


def poolGetTemplateConfiguration(pool: str, template: int | str) -> Any:
    """`err, view`: a pool's values for a template (`values`) and its member nodes (`nodes`)."""
    path = _pool_path(pool, template)
    if path is None:
        return bad_argument(
            "poolGetTemplateConfiguration", "needs a pool name and a template key or id", (None,)
        )
    return call("poolGetTemplateConfiguration", (None,), lambda client: (get(client, path),))


def poolSetTemplateConfiguration(pool: str, template: int | str, values: dict[str, Any]) -> Any:
    """`err`: set a pool's values for a template's client configuration ({} clears them)."""
    path = _pool_path(pool, template)
    if path is None or not isinstance(values, dict):
        return bad_argument(
            "poolSetTemplateConfiguration",
            "needs a pool name, a template key or id and a dict of item values",
            (),
        )
    return _put("poolSetTemplateConfiguration", path, values)
