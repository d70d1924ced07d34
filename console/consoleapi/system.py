"""MConsoleAPI: the database, system and log functions, over the REST system, record and
log routes."""

from __future__ import annotations

from typing import Any

from console.consoleapi.transport import bad_argument, call, get, segment, send
from corral_client import Client
from hooks.api.dispatcher_system import kEngineStatusPaused, kEngineStatusRunning
from hooks.api.farm_objects import MDispatcherConfiguration, MLDAPConfiguration
from hooks.api.objects import MStringRef

__all__ = [
    "dbClearHistoryBounds",
    "dbClearStatisticsBounds",
    "dbExportQueueSQL",
    "dbGetHistoryBounds",
    "dbGetStatisticsBounds",
    "dbImportQueueSQL",
    "kEngineStatusPaused",
    "kEngineStatusRunning",
    "logAddInternalMessage",
    "logAddMessage",
    "logClear",
    "systemGetActionLog",
    "systemGetActionLogsList",
    "systemGetActivityLog",
    "systemGetActivityLogsList",
    "systemGetConfiguration",
    "systemGetLDAPConfiguration",
    "systemQueryEngineStatus",
    "systemRemoveActionLog",
    "systemRemoveActivityLog",
    "systemResetStatisticsCounters",
    "systemSetConfiguration",
    "systemSetLDAPConfiguration",
    "systemSoftRestart",
    "systemStartNodesNetworkScan",
    "systemSwapEngineStatus",
]

_NONE: tuple[Any, ...] = ()
_BOUNDS: tuple[Any, ...] = (0.0, 0.0, 0)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _do(function: str, method: str, path: str, body: Any = None) -> Any:
    """A call whose answer carries nothing the function returns."""

    def work(client: Client) -> tuple[Any, ...]:
        send(client, method, path, body)
        return ()

    return call(function, _NONE, work)


def _bounds(function: str, table: str) -> Any:
    def work(client: Client) -> tuple[Any, ...]:
        answer = get(client, f"/{table}/bounds")
        return (float(answer["start"]), float(answer["end"]), int(answer["count"]))

    return call(function, _BOUNDS, work)


def _clear(function: str, table: str, start: object, end: object) -> Any:
    low, high = _number(start), _number(end)
    if low is None or high is None or high < low:
        return bad_argument(
            function, "needs a start and an end time (seconds since the epoch, start <= end)", _NONE
        )

    def work(client: Client) -> tuple[Any, ...]:
        client.request("DELETE", f"/api/v1/{table}/", query={"start": low, "end": high})
        return ()

    return call(function, _NONE, work)


# -- database ------------------------------------------------------------------


def dbGetStatisticsBounds() -> Any:
    """`err, start, end, samples`: the time span (epoch seconds) and count of stored statistics samples."""
    return _bounds("dbGetStatisticsBounds", "statistics")


def dbGetHistoryBounds() -> Any:
    """`err, start, end, samples`: the time span and count of stored history records."""
    return _bounds("dbGetHistoryBounds", "history")


def dbClearStatisticsBounds(start: float, end: float) -> Any:
    """`err`: delete the statistics samples taken between `start` and `end` (inclusive)."""
    return _clear("dbClearStatisticsBounds", "statistics", start, end)


def dbClearHistoryBounds(start: float, end: float) -> Any:
    """`err`: delete the history records between `start` and `end` (inclusive)."""
    return _clear("dbClearHistoryBounds", "history", start, end)


def dbImportQueueSQL(sql: str | MStringRef) -> Any:
    """`err`: replace the whole queue with a snapshot made by dbExportQueueSQL (administer)."""
    text = sql.getString() if isinstance(sql, MStringRef) else sql
    if not isinstance(text, str):
        return bad_argument(
            "dbImportQueueSQL", f"needs the exported text, not {type(sql).__name__}", _NONE
        )
    return _do("dbImportQueueSQL", "POST", "/queue/import", text.encode("utf-8"))


def dbExportQueueSQL(ref: MStringRef) -> Any:
    """`err`: snapshot the queue; the snapshot's text is written into `ref`."""
    if not isinstance(ref, MStringRef):
        return bad_argument(
            "dbExportQueueSQL", "needs an MStringRef to write the snapshot into", _NONE
        )

    def work(client: Client) -> tuple[Any, ...]:
        ref.setString(str(get(client, "/queue/export")))
        return ()

    return call("dbExportQueueSQL", _NONE, work)


# -- system --------------------------------------------------------------------


def systemQueryEngineStatus() -> Any:
    """`err, status`: kEngineStatusRunning (dispatching) or kEngineStatusPaused."""

    def work(client: Client) -> tuple[Any, ...]:
        running = get(client, "/system/engine")["running"]
        return (kEngineStatusRunning if running else kEngineStatusPaused,)

    return call("systemQueryEngineStatus", (kEngineStatusPaused,), work)


def systemSwapEngineStatus() -> Any:
    """`err`: pause dispatching if it runs, resume it if paused (running chunks go on)."""
    return _do("systemSwapEngineStatus", "POST", "/system/engine/swap")


def systemSoftRestart() -> Any:
    """`err`: reload templates and stored settings and restart the hook host."""
    return _do("systemSoftRestart", "POST", "/system/soft-restart")


def systemResetStatisticsCounters() -> Any:
    """`err`: set the dispatcher's running counters (results, assignments) back to 0."""
    return _do("systemResetStatisticsCounters", "POST", "/system/counters/reset")


def systemStartNodesNetworkScan() -> Any:
    """`err`: probe the configured discovery addresses; render clients that answer are registered."""
    return _do("systemStartNodesNetworkScan", "POST", "/system/nodes-scan")


def systemGetConfiguration() -> Any:
    """`err, configuration`: the dispatcher's settings as an MDispatcherConfiguration."""
    return call(
        "systemGetConfiguration",
        (None,),
        lambda client: (MDispatcherConfiguration(get(client, "/system/configuration")),),
    )


def systemSetConfiguration(configuration: MDispatcherConfiguration, store: bool | int) -> Any:
    """`err`: apply the changed settings now; with `store` true they also apply after a restart."""
    if not isinstance(configuration, MDispatcherConfiguration):
        return bad_argument("systemSetConfiguration", "needs an MDispatcherConfiguration", _NONE)
    body = {"values": configuration.to_dict()["values"], "store": bool(store)}
    return _do("systemSetConfiguration", "PATCH", "/system/configuration", body)


def systemGetLDAPConfiguration() -> Any:
    """`err, configuration`: the directory settings as an MLDAPConfiguration."""
    return call(
        "systemGetLDAPConfiguration",
        (None,),
        lambda client: (MLDAPConfiguration(get(client, "/system/ldap")),),
    )


def systemSetLDAPConfiguration(configuration: MLDAPConfiguration, store: bool | int) -> Any:
    """`err`: set the directory settings; with `store` true they are kept across restarts."""
    if not isinstance(configuration, MLDAPConfiguration):
        return bad_argument("systemSetLDAPConfiguration", "needs an MLDAPConfiguration", _NONE)
    body = {"values": configuration.to_dict(), "store": bool(store)}
    return _do("systemSetLDAPConfiguration", "PUT", "/system/ldap", body)


def _log_list(function: str, kind: str) -> Any:
    return call(function, ([],), lambda client: (list(get(client, f"/logs/{kind}/")),))


def _log_read(function: str, kind: str, name: object) -> Any:
    if not isinstance(name, str) or not name:
        return bad_argument(function, f"needs a log file name, not {name!r}", ("",))
    return call(
        function, ("",), lambda client: (str(get(client, f"/logs/{kind}/{segment(name)}")),)
    )


def _log_remove(function: str, kind: str, name: object) -> Any:
    if not isinstance(name, str) or not name:
        return bad_argument(function, f"needs a log file name, not {name!r}", _NONE)
    return _do(function, "DELETE", f"/logs/{kind}/{segment(name)}")


def systemGetActivityLogsList() -> Any:
    """`err, names`: the activity log files (one per day: what happened to jobs and nodes)."""
    return _log_list("systemGetActivityLogsList", "activity")


def systemGetActivityLog(name: str) -> Any:
    """`err, text`: the content of one activity log file (its last 8 MiB)."""
    return _log_read("systemGetActivityLog", "activity", name)


def systemRemoveActivityLog(name: str) -> Any:
    """`err`: delete one activity log file."""
    return _log_remove("systemRemoveActivityLog", "activity", name)


def systemGetActionLogsList() -> Any:
    """`err, names`: the action log files (who did what)."""
    return _log_list("systemGetActionLogsList", "action")


def systemGetActionLog(name: str) -> Any:
    """`err, text`: the content of one action log file (its last 8 MiB)."""
    return _log_read("systemGetActionLog", "action", name)


def systemRemoveActionLog(name: str) -> Any:
    """`err`: delete one action log file."""
    return _log_remove("systemRemoveActionLog", "action", name)


# -- the dispatcher log ---------------------------------------------------------


def logClear() -> Any:
    """`err`: empty the dispatcher log."""
    return _do("logClear", "DELETE", "/logs/dispatcher")


def _message(function: str, message: object, internal: bool) -> Any:
    if not isinstance(message, str):
        return bad_argument(function, f"the message must be a string, not {message!r}", _NONE)
    return _do(function, "POST", "/logs/dispatcher", {"message": message, "internal": internal})


def logAddInternalMessage(message: str) -> Any:
    """`err`: add a message marked internal (a debugging note) to the dispatcher log."""
    return _message("logAddInternalMessage", message, True)


def logAddMessage(message: str) -> Any:
    """`err`: add a message to the dispatcher log."""
    return _message("logAddMessage", message, False)
