"""Client configuration: the per-node values of a template's client configuration items.

A template declares its node settings per platform with
`self.platformLinux.addClientConfigurationItem(item)`; Muster hands their
values to every render-client callback as `clientTemplatePreferences`, a dict
keyed by item name. Corral takes each value from, in this order (the first
that sets it wins):

1. the dispatcher, for this node (`corral nodes template-config NODE ...`);
2. the dispatcher, for a pool the node is in (the pool whose name sorts first
   wins when several set the same item);
3. the render client's own configuration (`--template-config` options, which
   win over its `template-config.json` / `.toml` file);
4. the item's default.

This module holds the pure parts both sides share: checking a value against
an item's type, and merging the layers. Values travel as
`{template key: {item name: value}}`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "PLATFORM_NAMES",
    "Layer",
    "coerce",
    "declared_items",
    "dispatcher_layer",
    "merge",
]

# template key -> item name -> value
Layer = dict[str, dict[str, Any]]

# The platform constants of MTemplateAPI by the names the item lists carry.
PLATFORM_NAMES = {0: "windows", 1: "mac", 2: "linux"}

MAX_VALUE_CHARS = 4096
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def coerce(item: Mapping[str, Any], value: object) -> Any:
    """`value` as the item's type wants it; raises ValueError saying why it does not fit.

    `item` is an item's description (`MTemplateItem.to_dict()`): text items
    (string, folder, file) take text, integer a whole number, double a number,
    boolean true/false (or 1/0, yes/no, on/off as text), combo one of its
    options. Numbers and booleans may come as text (from a command line).
    """
    kind = str(item.get("type", "string"))
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        raise ValueError(f"longer than {MAX_VALUE_CHARS} characters")
    if kind == "integer":
        if isinstance(value, bool):
            raise ValueError("must be a whole number")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().lstrip("+-").isdecimal():
            return int(value.strip())
        raise ValueError("must be a whole number")
    if kind == "double":
        if isinstance(value, bool):
            raise ValueError("must be a number")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                raise ValueError("must be a number") from None
            if number != number or number in (float("inf"), float("-inf")):
                raise ValueError("must be a finite number")
            return number
        raise ValueError("must be a number")
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError("must be true or false")
    if not isinstance(value, str):
        raise ValueError("must be text")
    if kind == "combo":
        options = [str(option) for option in item.get("options") or []]
        if options and value not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
    return value


def declared_items(
    info: Mapping[str, Any], platform: str | None = None
) -> dict[str, dict[str, Any]]:
    """The client configuration items of a template's description, by name.

    `info` is `MTemplate.to_dict()` (what the dispatcher's catalog keeps);
    `platform` ("linux", "windows", "mac") limits them to one platform, None
    takes every platform's (the first declaration of a name wins).
    """
    per_platform = info.get("client_configuration") or {}
    found: dict[str, dict[str, Any]] = {}
    names = [platform] if platform is not None else ["linux", "windows", "mac"]
    for name in names:
        for item in per_platform.get(name) or []:
            found.setdefault(str(item["name"]), dict(item))
    return found


def dispatcher_layer(node_values: Layer, pool_values: Iterable[Layer]) -> Layer:
    """What the dispatcher sets for one node: the node's own values over its pools'.

    `pool_values` are the node's pools' values in precedence order (the first
    wins over the later ones).
    """
    merged: Layer = {}
    for layer in [*reversed(list(pool_values)), node_values]:
        for template, values in layer.items():
            merged.setdefault(template, {}).update(values)
    return merged


def merge(
    defaults: Mapping[str, Any],
    local: Mapping[str, Any] | None = None,
    dispatcher: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One template's preferences: dispatcher values over local ones over the defaults."""
    return {**defaults, **(local or {}), **(dispatcher or {})}
