"""MDispatcherAPI database, system and log functions, translated onto the system and
record operations."""

from __future__ import annotations

from typing import Any

from dispatcher.operations import Actor, Operations
from hooks.service.registry import api

# -- database --------------------------------------------------------------------


@api
async def dbGetStatisticsBounds(ops: Operations, actor: Actor) -> list[Any]:
    return list(await ops.records.bounds(actor, "statistics"))


@api
async def dbGetHistoryBounds(ops: Operations, actor: Actor) -> list[Any]:
    return list(await ops.records.bounds(actor, "history"))


@api
async def dbClearStatisticsBounds(
    ops: Operations, actor: Actor, start: object, end: object
) -> list[Any]:
    await ops.records.clear(actor, "statistics", start, end)
    return []


@api
async def dbClearHistoryBounds(
    ops: Operations, actor: Actor, start: object, end: object
) -> list[Any]:
    await ops.records.clear(actor, "history", start, end)
    return []


@api
async def dbImportQueueSQL(ops: Operations, actor: Actor, text: object) -> list[Any]:
    await ops.system.import_queue(actor, text)
    return []


@api
def dbExportQueueSQL(ops: Operations, actor: Actor) -> list[Any]:
    return [ops.system.export_queue(actor)]


# -- system ----------------------------------------------------------------------


@api
def systemQueryEngineStatus(ops: Operations, actor: Actor) -> list[Any]:
    return [1 if ops.system.engine_running(actor) else 0]


@api
async def systemSwapEngineStatus(ops: Operations, actor: Actor) -> list[Any]:
    await ops.system.set_engine(actor, not ops.system.engine_running(actor))
    return []


@api
async def systemSoftRestart(ops: Operations, actor: Actor) -> list[Any]:
    await ops.system.soft_restart(actor)
    return []


@api
async def systemResetStatisticsCounters(ops: Operations, actor: Actor) -> list[Any]:
    await ops.system.reset_counters(actor)
    return []


@api
async def systemStartNodesNetworkScan(ops: Operations, actor: Actor) -> list[Any]:
    await ops.system.scan_nodes(actor)
    return []


@api
def systemGetConfiguration(ops: Operations, actor: Actor) -> list[Any]:
    return [ops.system.configuration(actor)]


@api
async def systemSetConfiguration(
    ops: Operations, actor: Actor, values: object, store: object
) -> list[Any]:
    await ops.system.configure(actor, values, store=bool(store))
    return []


@api
def systemGetLDAPConfiguration(ops: Operations, actor: Actor) -> list[Any]:
    return [ops.system.ldap_configuration(actor)]


@api
async def systemSetLDAPConfiguration(
    ops: Operations, actor: Actor, info: object, store: object
) -> list[Any]:
    await ops.system.configure_ldap(actor, info, store=bool(store))
    return []


@api
def systemGetActivityLogsList(ops: Operations, actor: Actor) -> list[Any]:
    return [ops.records.log_names(actor, "activity")]


@api
def systemGetActivityLog(ops: Operations, actor: Actor, name: object) -> list[Any]:
    return [ops.records.read_log(actor, "activity", name)]


@api
async def systemRemoveActivityLog(ops: Operations, actor: Actor, name: object) -> list[Any]:
    await ops.records.remove_log(actor, "activity", name)
    return []


@api
def systemGetActionLogsList(ops: Operations, actor: Actor) -> list[Any]:
    return [ops.records.log_names(actor, "action")]


@api
def systemGetActionLog(ops: Operations, actor: Actor, name: object) -> list[Any]:
    return [ops.records.read_log(actor, "action", name)]


@api
async def systemRemoveActionLog(ops: Operations, actor: Actor, name: object) -> list[Any]:
    await ops.records.remove_log(actor, "action", name)
    return []


# -- the dispatcher log -------------------------------------------------------------


@api
async def logClear(ops: Operations, actor: Actor) -> list[Any]:
    await ops.records.clear_messages(actor)
    return []


@api
async def logAddInternalMessage(ops: Operations, actor: Actor, message: object) -> list[Any]:
    await ops.records.add_message(actor, message, internal=True)
    return []


@api
async def logAddMessage(ops: Operations, actor: Actor, message: object) -> list[Any]:
    await ops.records.add_message(actor, message)
    return []
