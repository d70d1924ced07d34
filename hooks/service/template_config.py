"""MDispatcherAPI's client configuration functions (Corral's extension), translated onto
the template configuration operations."""

from __future__ import annotations

from typing import Any

from dispatcher.operations import Actor, Operations
from hooks.service.registry import api, as_int, as_text


@api
def nodeGetTemplateConfiguration(
    ops: Operations, actor: Actor, node_id: object, template: object
) -> list[Any]:
    return [ops.template_config.node_config(actor, as_int(node_id, "node"), template)]


@api
async def nodeSetTemplateConfiguration(
    ops: Operations, actor: Actor, node_id: object, template: object, values: object
) -> list[Any]:
    await ops.template_config.set_template_config(actor, as_int(node_id, "node"), template, values)
    return []


@api
def poolGetTemplateConfiguration(
    ops: Operations, actor: Actor, pool: object, template: object
) -> list[Any]:
    return [ops.template_config.pool_config(actor, as_text(pool, "pool"), template)]


@api
async def poolSetTemplateConfiguration(
    ops: Operations, actor: Actor, pool: object, template: object, values: object
) -> list[Any]:
    await ops.template_config.set_template_config(
        actor, as_text(pool, "pool"), template, values, pool=True
    )
    return []
