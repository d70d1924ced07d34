"""MDispatcherAPI, Corral's extension: the client configuration of templates.

Muster sets a node's client configuration in its console; Corral's hooks and
dispatcher-context scripts set it with these four functions (the REST routes
`/api/v1/nodes/{node}/template-config/{template}` and
`/api/v1/pools/{pool}/template-config/{template}` do the same). A value set for
a pool applies to its nodes; a value set for a node wins over its pools'; an
empty dict clears what was set there. docs/templates.md has the layers.
"""

from __future__ import annotations

from typing import Any

from hooks.api.link import as_int, bad_argument, invoke

__all__ = [
    "nodeGetTemplateConfiguration",
    "nodeSetTemplateConfiguration",
    "poolGetTemplateConfiguration",
    "poolSetTemplateConfiguration",
]

EXTENSION_NAMES: tuple[str, ...] = tuple(__all__)


def _template_ok(template: object) -> bool:
    return isinstance(template, str | int) and not isinstance(template, bool)


def nodeGetTemplateConfiguration(id: int, template: int | str) -> Any:
    """`err, view`: a node's client configuration for a template (key or id), as a dict.

    `effective` is what the render client passes to the template; the layers are
    `node_values`, `pool_values` and `own_values` (the node's own file and options).
    """
    number = as_int(id)
    if number is None or not _template_ok(template):
        return bad_argument(
            "nodeGetTemplateConfiguration", "needs a node id and a template key or id", (None,)
        )
    return invoke("nodeGetTemplateConfiguration", [number, template], (None,))


def nodeSetTemplateConfiguration(id: int, template: int | str, values: dict[str, Any]) -> Any:
    """`err`: set a node's values for a template's client configuration ({} clears them).

    They replace what was set for that node before; a connected render client gets
    them at once.
    """
    number = as_int(id)
    if number is None or not _template_ok(template) or not isinstance(values, dict):
        return bad_argument(
            "nodeSetTemplateConfiguration",
            "needs a node id, a template key or id and a dict of item values",
            (),
        )
    return invoke("nodeSetTemplateConfiguration", [number, template, values], ())


def poolGetTemplateConfiguration(pool: str, template: int | str) -> Any:
    """`err, view`: a pool's values for a template (`values`) and its member nodes (`nodes`)."""
    if not isinstance(pool, str) or not _template_ok(template):
        return bad_argument(
            "poolGetTemplateConfiguration", "needs a pool name and a template key or id", (None,)
        )
    return invoke("poolGetTemplateConfiguration", [pool, template], (None,))


def poolSetTemplateConfiguration(pool: str, template: int | str, values: dict[str, Any]) -> Any:
    """`err`: set a pool's values for a template's client configuration ({} clears them).

    Every connected member node gets them at once.
    """
    if not isinstance(pool, str) or not _template_ok(template) or not isinstance(values, dict):
        return bad_argument(
            "poolSetTemplateConfiguration",
            "needs a pool name, a template key or id and a dict of item values",
            (),
        )
    return invoke("poolSetTemplateConfiguration", [pool, template, values], ())
