"""Client configuration operations: the values of templates' client configuration items
the dispatcher sets for one node or for a pool.

A template declares per-node settings with `addClientConfigurationItem`
(the application's path, a licence server...). An administrator sets them
here for a node or a pool (manage-nodes); each value is checked against the
item the template declares, stored in the records (kind `config`, named
`template_config:node:LABEL` or `template_config:pool:NAME`, so it survives
restarts), and the whole
dispatcher layer of every affected connected node is pushed to it at once
(a `template_config` command); a node gets its layer again in each Welcome.
The merge rule (node > pool > the node's own > default) is in
hooks/api/preferences.py.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from dispatcher import protocol as p
from dispatcher.auth import Permission
from dispatcher.errors import NotFound, ValidationError
from dispatcher.events import AccountEvent, Event, NodeEvent
from dispatcher.model import Node
from dispatcher.operations.actor import Actor
from dispatcher.operations.farm import Area, Farm
from hooks.api.preferences import Layer, coerce, declared_items, dispatcher_layer, merge
from hooks.catalog import TemplateInfo

log = logging.getLogger(__name__)

# Stored as "config" records named PREFIX + "node:LABEL" or PREFIX + "pool:NAME".
KIND = "config"
PREFIX = "template_config:"
MAX_ITEMS = 256


def node_platform(platform: str) -> str:
    """A node's reported `sys.platform` as a template platform name."""
    if platform.startswith("win"):
        return "windows"
    if platform == "darwin":
        return "mac"
    return "linux"


class TemplateConfigOperations(Area):
    def __init__(self, farm: Farm) -> None:
        super().__init__(farm)
        # A pool's members changed: its values now reach other nodes.
        farm.bus.subscribe(self._pool_changed)

    def _pool_changed(self, event: Event) -> None:
        if not isinstance(event, AccountEvent) or event.kind != "pool":
            return
        if self.farm.records.find(KIND, f"{PREFIX}pool:{event.name}") is None:
            return
        pushed = self._push(lambda node: True)
        log.info("action=template_config_pushed pool=%s nodes=%d", event.name, len(pushed))

    # -- lookups -------------------------------------------------------------------
    def _template(self, template: object) -> tuple[TemplateInfo, dict[str, dict[str, Any]]]:
        if not isinstance(template, str | int) or isinstance(template, bool):
            raise ValidationError("template: a template key or id", field="template")
        found = self.farm.templates.get(str(template))
        if found is None:
            raise NotFound(f"no template {template!r}")
        return found, declared_items(found.to_dict())

    def _node(self, key: int | str) -> Node:
        control = self.farm.control
        return control.node(key) if isinstance(key, int) else control.find(key)

    def _pool(self, name: object) -> str:
        if not isinstance(name, str) or not name:
            raise ValidationError("pool: a pool name", field="pool")
        announced = {pool for node in self.farm.queue.nodes.values() for pool in node.pools}
        if name not in announced and self.farm.records.find("pool", name) is None:
            raise NotFound(f"no pool named {name!r}")
        return name

    def _stored(self, name: str) -> Layer:
        stored = self.farm.records.find(KIND, PREFIX + name) or {}
        return {key: dict(values) for key, values in stored.items()}

    def pools_of(self, node: Node) -> list[str]:
        """The node's pools in precedence order (by name): announced and configured ones."""
        records = self.farm.records  # (read in place, no copy: this runs in every Welcome)
        configured = {
            name
            for name in records.names("pool")
            if node.label in (records.value("pool", name, "nodes") or ())
        }
        return sorted(set(node.pools) | configured)

    def layer_for(self, node: Node) -> Layer:
        """What the dispatcher sets for `node`: its own values over its pools' (for the
        Welcome and the pushes)."""
        pools = [self._stored(f"pool:{name}") for name in self.pools_of(node)]
        return dispatcher_layer(self._stored(f"node:{node.label}"), pools)

    # -- views ---------------------------------------------------------------------
    def _node_view(self, node: Node, info: TemplateInfo) -> dict[str, Any]:
        key = info.getKey()
        session = self.farm.node_server.live.get(node.id)
        online = session is not None and session.state == "ready"
        platform = node_platform(node.platform)
        items = declared_items(info.to_dict(), platform) or declared_items(info.to_dict())
        defaults = {name: item.get("default") for name, item in items.items()}
        own = None
        if online and session is not None:
            reported = session.own_template_config
            own = {**reported.get(str(info.getID()), {}), **reported.get(key, {})}
        pool_values = {
            name: values
            for name in self.pools_of(node)
            if (values := self._stored(f"pool:{name}").get(key))
        }
        dispatcher = self.layer_for(node).get(key, {})
        kept_own = {}
        for name, value in (own or {}).items():
            if name in items:
                with contextlib.suppress(ValueError):  # the client warns about it itself
                    kept_own[name] = coerce(items[name], value)
        return {
            "node": node.label,
            "id": node.id,
            "online": online,
            "platform": platform,
            "node_values": self._stored(f"node:{node.label}").get(key, {}),
            "pool_values": pool_values,
            "own_values": own,
            "effective": merge(defaults, kept_own, dispatcher),
        }

    def node_config(self, actor: Actor, key: int | str, template: object) -> dict[str, Any]:
        """One node's client configuration for one template: each layer and the result
        (`own_values` is None while the node is offline: only it knows them)."""
        node = self._node(key)
        info, _ = self._template(template)
        return {"template": info.getKey(), **self._node_view(node, info)}

    def pool_config(self, actor: Actor, pool: object, template: object) -> dict[str, Any]:
        name = self._pool(pool)
        info, _ = self._template(template)
        members = [
            node.label for node in self.farm.queue.nodes.values() if name in self.pools_of(node)
        ]
        values = self._stored(f"pool:{name}").get(info.getKey(), {})
        return {"template": info.getKey(), "pool": name, "values": values, "nodes": sorted(members)}

    def template_config(self, actor: Actor, template: object) -> dict[str, Any]:
        """A template's client configuration items (per platform), the pools' values and
        what each node has."""
        info, _ = self._template(template)
        key = info.getKey()
        pools = {
            name.removeprefix(PREFIX + "pool:"): values[key]
            for name, values in self.farm.records.all(KIND)
            if name.startswith(PREFIX + "pool:") and key in values
        }
        nodes = sorted(self.farm.queue.nodes.values(), key=lambda node: node.id)
        return {
            "template": key,
            "id": info.getID(),
            "name": info.getName(),
            "items": info.to_dict().get("client_configuration") or {},
            "pools": pools,
            "nodes": [self._node_view(node, info) for node in nodes],
        }

    # -- the change -----------------------------------------------------------------
    def _checked(
        self, info: TemplateInfo, items: dict[str, dict[str, Any]], values: object
    ) -> dict[str, Any]:
        if not isinstance(values, dict):
            raise ValidationError("values: an object of item names and values", field="values")
        if len(values) > MAX_ITEMS:
            raise ValidationError(f"values: at most {MAX_ITEMS} items", field="values")
        checked: dict[str, Any] = {}
        for name, value in values.items():
            where = f"values.{name}"
            if name not in items:
                known = ", ".join(sorted(items)) or "none"
                raise ValidationError(
                    f"{where}: template {info.getKey()!r} declares no client configuration "
                    f"item {name!r} (it declares: {known})",
                    field=where,
                )
            try:
                checked[name] = coerce(items[name], value)
            except ValueError as exc:
                raise ValidationError(f"{where}: {exc}", field=where) from None
        return checked

    async def set_template_config(
        self,
        actor: Actor,
        node_or_pool: int | str,
        template: object,
        values: object,
        *,
        pool: bool = False,
    ) -> dict[str, Any]:
        """Set a node's (or with `pool`, a pool's) values for a template's client
        configuration items, replacing what was set there before ({} clears them)."""
        actor.require(Permission.MANAGE_NODES)
        if pool:
            target = self._pool(node_or_pool)
            record = f"pool:{target}"
        else:
            node = self._node(node_or_pool)
            target, record = node.label, f"node:{node.label}"
        info, items = self._template(template)
        checked = self._checked(info, items, values)
        self.writable()
        stored = self._stored(record)
        if checked:
            stored[info.getKey()] = checked
        else:
            stored.pop(info.getKey(), None)
        if stored:
            self.farm.records.put(KIND, PREFIX + record, stored)
        elif self.farm.records.find(KIND, PREFIX + record) is not None:
            self.farm.records.remove(KIND, PREFIX + record)
        touched = self._push(
            lambda node: node.label == target if not pool else target in self.pools_of(node)
        )
        event = NodeEvent(action="node_template_config", actor=actor.name, nodes=sorted(touched))
        await self.finish(
            actor,
            event,
            target=record,
            template=info.getKey(),
            items=sorted(checked),
            pushed=sorted(touched),
        )
        if pool:
            return self.pool_config(actor, target, info.getKey())
        return self.node_config(actor, node.id, info.getKey())

    def _push(self, affected: Any) -> list[int]:
        """Send the whole dispatcher layer to every connected node `affected` selects."""
        pushed = []
        for node_id, session in list(self.farm.node_server.live.items()):
            node = session.node
            if session.closed or session.state != "ready" or not affected(node):
                continue
            session.send(p.Command("template_config", args={"values": self.layer_for(node)}))
            pushed.append(node_id)
        return pushed
