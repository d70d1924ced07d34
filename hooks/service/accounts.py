"""MDispatcherAPI users, groups, pools and repositories, translated onto the account and
pool operations."""

from __future__ import annotations

from typing import Any

from dispatcher.operations import Actor, Operations
from dispatcher.operations.accounts import user_view
from hooks.service.registry import api

# -- users and groups ------------------------------------------------------------


@api
async def userGetList(ops: Operations, actor: Actor) -> list[Any]:
    """The dispatcher's users, then the directory's as `@directory@NAME`."""
    return [await ops.accounts.user_list(actor)]


@api
def userGet(ops: Operations, actor: Actor, name: object) -> list[Any]:
    return [user_view(ops.accounts.user(actor, name))]


@api
async def userAdd(ops: Operations, actor: Actor, info: object) -> list[Any]:
    await ops.accounts.add_user(actor, info)
    return []


@api
async def userRemove(ops: Operations, actor: Actor, name: object) -> list[Any]:
    await ops.accounts.remove_user(actor, name)
    return []


@api
async def userConfigure(ops: Operations, actor: Actor, info: object) -> list[Any]:
    await ops.accounts.configure_user(actor, info)
    return []


@api
def groupGetList(ops: Operations, actor: Actor) -> list[Any]:
    return [ops.accounts.groups(actor)]


@api
def groupGet(ops: Operations, actor: Actor, name: object) -> list[Any]:
    return [ops.accounts.group(actor, name)]


@api
async def groupAdd(ops: Operations, actor: Actor, info: object) -> list[Any]:
    await ops.accounts.add_group(actor, info)
    return []


@api
async def groupRemove(ops: Operations, actor: Actor, name: object) -> list[Any]:
    await ops.accounts.remove_group(actor, name)
    return []


@api
async def groupConfigure(ops: Operations, actor: Actor, info: object) -> list[Any]:
    await ops.accounts.configure_group(actor, info)
    return []


# -- pools -----------------------------------------------------------------------


@api
def poolGetList(ops: Operations, actor: Actor) -> list[Any]:
    return [ops.pools.pools(actor)]


@api
def poolGet(ops: Operations, actor: Actor, name: object) -> list[Any]:
    return [ops.pools.pool(actor, name)]


@api
async def poolConfigure(ops: Operations, actor: Actor, info: object) -> list[Any]:
    await ops.pools.configure_pool(actor, info)
    return []


@api
async def poolAdd(ops: Operations, actor: Actor, info: object) -> list[Any]:
    await ops.pools.add_pool(actor, info)
    return []


@api
async def poolRemove(ops: Operations, actor: Actor, name: object) -> list[Any]:
    await ops.pools.remove_pool(actor, name)
    return []


@api
async def poolNotifyChanges(ops: Operations, actor: Actor) -> list[Any]:
    await ops.pools.notify(actor, "pool")
    return []


# -- repositories ------------------------------------------------------------------


@api
def repositoriesGetList(ops: Operations, actor: Actor) -> list[Any]:
    return [ops.pools.repositories(actor)]


@api
def repositoriesGet(ops: Operations, actor: Actor, name: object) -> list[Any]:
    return [ops.pools.repository(actor, name)]


@api
async def repositoriesConfigure(ops: Operations, actor: Actor, info: object) -> list[Any]:
    await ops.pools.configure_repository(actor, info)
    return []


@api
async def repositoriesAdd(ops: Operations, actor: Actor, info: object) -> list[Any]:
    await ops.pools.add_repository(actor, info)
    return []


@api
async def repositoriesNotifyChanges(ops: Operations, actor: Actor) -> list[Any]:
    await ops.pools.notify(actor, "repository")
    return []


@api
async def repositoriesRemove(ops: Operations, actor: Actor, name: object) -> list[Any]:
    await ops.pools.remove_repository(actor, name)
    return []
