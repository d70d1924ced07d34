"""MDispatcherAPI database, system and log functions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pydantic

from dispatcher import snapshot
from dispatcher.config import Settings
from dispatcher.errors import ValidationError
from hooks.service.registry import api, as_text, done

if TYPE_CHECKING:
    from dispatcher.app import Dispatcher

# Settings systemSetConfiguration may change while the dispatcher runs.
# The hook host's time and memory limits are start options: a hook may not lift its own.
LIVE_SETTINGS = frozenset({
    "chunk_hold_recheck_s", "idle_hook_interval_s",
    "statistics_interval_s", "exclude_after_failures", "heartbeat_interval_s",
    "offline_after_missed", "node_lost_after_s", "reconnect_grace_s", "max_log_bytes_per_s",
    "discovery_addresses", "shutdown_grace_s", "cancel_deadline_s",
})  # fmt: skip

LDAP_KEYS = {
    "enabled": bool, "server": str, "port": int, "use_ssl": bool, "base_dn": str, "bind_user": str,
    "bind_password": str, "user_filter": str, "group_filter": str, "directory": str,
}  # fmt: skip


def _time(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{what}: seconds since the epoch", field=what)
    return float(value)


def checked_settings(current: Settings, values: dict[str, Any]) -> tuple[Settings, dict[str, Any]]:
    """The settings with `values` applied, and the changed ones; ValidationError names the first bad one."""
    known = current.model_dump(mode="json")
    changed: dict[str, Any] = {}
    for name, value in values.items():
        if name not in known:
            raise ValidationError(f"{name}: no such setting", field=name)
        if value == known[name]:
            continue
        if name not in LIVE_SETTINGS:
            raise ValidationError(
                f"{name}: cannot change while the dispatcher runs (a start option)", field=name
            )
        changed[name] = value
    try:
        updated = Settings.model_validate({**current.model_dump(), **changed})
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValidationError(f"{where}: {first['msg']}", field=where) from None
    return updated, changed


# -- database ------------------------------------------------------------------


@api
async def dbGetStatisticsBounds(d: Dispatcher) -> list[Any]:
    await d.store.commit()
    first, last, count = await d.store.bounds("statistics")
    return [first or 0.0, last or 0.0, count]


@api
async def dbGetHistoryBounds(d: Dispatcher) -> list[Any]:
    await d.store.commit()
    first, last, count = await d.store.bounds("history")
    return [first or 0.0, last or 0.0, count]


@api
async def dbClearStatisticsBounds(d: Dispatcher, start: object, end: object) -> list[Any]:
    d.store.clear_range("statistics", _time(start, "start"), _time(end, "end"))
    return await done(d, "clear_statistics", start=start, end=end)


@api
async def dbClearHistoryBounds(d: Dispatcher, start: object, end: object) -> list[Any]:
    d.store.clear_range("history", _time(start, "start"), _time(end, "end"))
    return await done(d, "clear_history", start=start, end=end)


@api
async def dbImportQueueSQL(d: Dispatcher, text: object) -> list[Any]:
    jobs = snapshot.parse(as_text(text, "sql"))
    d.queue.replace_all(jobs)
    d.hooks.forget_all()
    for job in jobs:
        d.node_server.scheduler.job_changed(job)
    return await done(d, "import_queue", jobs=len(jobs))


@api
def dbExportQueueSQL(d: Dispatcher) -> list[Any]:
    return [snapshot.export(list(d.queue.jobs.values()))]


# -- system --------------------------------------------------------------------


@api
def systemQueryEngineStatus(d: Dispatcher) -> list[Any]:
    return [0 if d.node_server.scheduler.paused else 1]


@api
async def systemSwapEngineStatus(d: Dispatcher) -> list[Any]:
    paused = d.set_engine_paused(not d.node_server.scheduler.paused)
    return await done(d, "engine_status", paused=paused)


@api
async def systemSoftRestart(d: Dispatcher) -> list[Any]:
    await d.soft_restart()
    return await done(d, "soft_restart")


@api
async def systemResetStatisticsCounters(d: Dispatcher) -> list[Any]:
    d.reset_counters()
    return await done(d, "reset_counters")


@api
async def systemStartNodesNetworkScan(d: Dispatcher) -> list[Any]:
    found = await d.scan_nodes()
    return await done(d, "nodes_network_scan", answered=found)


@api
def systemGetConfiguration(d: Dispatcher) -> list[Any]:
    return [{"values": d.settings.model_dump(mode="json"), "live": sorted(LIVE_SETTINGS)}]


@api
async def systemSetConfiguration(d: Dispatcher, values: object, store: object) -> list[Any]:
    if not isinstance(values, dict):
        raise ValidationError("configuration: an MDispatcherConfiguration is required")
    updated, changed = checked_settings(d.settings, values)
    d.apply_settings(updated)
    if store:
        stored = d.records.find("config", "settings") or {}
        d.records.put("config", "settings", {**stored, **changed})
    return await done(d, "set_configuration", fields=sorted(changed), stored=bool(store))


@api
def systemGetLDAPConfiguration(d: Dispatcher) -> list[Any]:
    info = dict(d.ldap_config)
    info["bind_password"] = ""  # write-only
    return [info]


@api
async def systemSetLDAPConfiguration(d: Dispatcher, info: object, store: object) -> list[Any]:
    if not isinstance(info, dict):
        raise ValidationError("configuration: an MLDAPConfiguration is required")
    checked: dict[str, Any] = {}
    for key, value in info.items():
        kind = LDAP_KEYS.get(key)
        if kind is None:
            raise ValidationError(f"{key}: no such LDAP setting", field=key)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValidationError(f"{key}: must be {kind.__name__}", field=key)
        checked[key] = value
    if not 0 < int(checked.get("port", 389)) < 65536:
        raise ValidationError("port: 1..65535", field="port")
    if not checked.get("bind_password"):
        checked["bind_password"] = d.ldap_config.get("bind_password", "")
    d.ldap_config = checked
    if store:
        d.records.put("ldap", "ldap", checked)
    return await done(d, "set_ldap_configuration", stored=bool(store))


@api
def systemGetActivityLogsList(d: Dispatcher) -> list[Any]:
    return [d.activity.files.names()]


@api
def systemGetActivityLog(d: Dispatcher, name: object) -> list[Any]:
    return [d.activity.files.read(as_text(name, "name"))]


@api
async def systemRemoveActivityLog(d: Dispatcher, name: object) -> list[Any]:
    d.activity.files.remove(as_text(name, "name"))
    return await done(d, "remove_activity_log", name=name)


@api
def systemGetActionLogsList(d: Dispatcher) -> list[Any]:
    return [d.action_logs.names()]


@api
def systemGetActionLog(d: Dispatcher, name: object) -> list[Any]:
    return [d.action_logs.read(as_text(name, "name"))]


@api
async def systemRemoveActionLog(d: Dispatcher, name: object) -> list[Any]:
    d.action_logs.remove(as_text(name, "name"))
    return await done(d, "remove_action_log", name=name)


# -- the dispatcher log ---------------------------------------------------------


@api
def logClear(d: Dispatcher) -> list[Any]:
    d.message_log.clear()
    d.actions.record("hooks", "log_clear")
    return []


@api
def logAddInternalMessage(d: Dispatcher, message: object) -> list[Any]:
    d.message_log.add(as_text(message, "message", empty=True), internal=True)
    return []


@api
def logAddMessage(d: Dispatcher, message: object) -> list[Any]:
    d.message_log.add(as_text(message, "message", empty=True))
    return []
