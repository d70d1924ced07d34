"""MDispatcherAPI: the database, system and log functions (the hook host's side)."""

from __future__ import annotations

from typing import Any

from hooks.api.farm_objects import MDispatcherConfiguration, MLDAPConfiguration
from hooks.api.link import bad_argument, invoke
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

# The engine status systemQueryEngineStatus returns.
kEngineStatusPaused = 0
kEngineStatusRunning = 1

_NONE: tuple[Any, ...] = ()
_BOUNDS: tuple[Any, ...] = (0.0, 0.0, 0)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _range(function: str, start: object, end: object) -> Any:
    low, high = _number(start), _number(end)
    if low is None or high is None or high < low:
        return bad_argument(
            function, "needs a start and an end time (seconds since the epoch, start <= end)", _NONE
        )
    return invoke(function, [low, high], _NONE)


def _name(function: str, name: object, empty: tuple[Any, ...]) -> Any:
    if not isinstance(name, str) or not name:
        return bad_argument(function, f"needs a log file name, not {name!r}", empty)
    return invoke(function, [name], empty)


# -- database ------------------------------------------------------------------


def dbGetStatisticsBounds() -> Any:
    """`err, start, end, samples`: the time span (epoch seconds) and count of stored statistics samples."""
    return invoke("dbGetStatisticsBounds", [], _BOUNDS)


def dbGetHistoryBounds() -> Any:
    """`err, start, end, samples`: the time span and count of stored history records."""
    return invoke("dbGetHistoryBounds", [], _BOUNDS)


def dbClearStatisticsBounds(start: float, end: float) -> Any:
    """`err`: delete the statistics samples taken between `start` and `end` (inclusive)."""
    return _range("dbClearStatisticsBounds", start, end)


def dbClearHistoryBounds(start: float, end: float) -> Any:
    """`err`: delete the history records between `start` and `end` (inclusive)."""
    return _range("dbClearHistoryBounds", start, end)


def dbImportQueueSQL(sql: str | MStringRef) -> Any:
    """`err`: replace the whole queue with a snapshot made by dbExportQueueSQL.

    Only Corral's own export format is accepted; it is checked in full before
    one transaction applies it, so a bad snapshot changes nothing.
    """
    text = sql.getString() if isinstance(sql, MStringRef) else sql
    if not isinstance(text, str):
        return bad_argument(
            "dbImportQueueSQL", f"needs the exported text, not {type(sql).__name__}", _NONE
        )
    return invoke("dbImportQueueSQL", [text], _NONE)


def dbExportQueueSQL(ref: MStringRef) -> Any:
    """`err`: snapshot the queue; the snapshot's text is written into `ref`."""
    if not isinstance(ref, MStringRef):
        return bad_argument(
            "dbExportQueueSQL", "needs an MStringRef to write the snapshot into", _NONE
        )
    result = invoke("dbExportQueueSQL", [], (None,))
    err, text = result
    if text is not None:
        ref.setString(text)
    return err


# -- system --------------------------------------------------------------------


def systemQueryEngineStatus() -> Any:
    """`err, status`: kEngineStatusRunning (dispatching) or kEngineStatusPaused."""
    return invoke("systemQueryEngineStatus", [], (kEngineStatusPaused,))


def systemSwapEngineStatus() -> Any:
    """`err`: pause dispatching if it runs, resume it if paused (running chunks go on)."""
    return invoke("systemSwapEngineStatus", [], _NONE)


def systemSoftRestart() -> Any:
    """`err`: reload templates and stored settings and restart the hook host (after this call's hook)."""
    return invoke("systemSoftRestart", [], _NONE)


def systemResetStatisticsCounters() -> Any:
    """`err`: set the dispatcher's running counters (results, assignments) back to 0."""
    return invoke("systemResetStatisticsCounters", [], _NONE)


def systemStartNodesNetworkScan() -> Any:
    """`err`: probe the configured discovery addresses; render clients that answer are registered."""
    return invoke("systemStartNodesNetworkScan", [], _NONE)


def systemGetConfiguration() -> Any:
    """`err, configuration`: the dispatcher's settings as an MDispatcherConfiguration."""
    return invoke(
        "systemGetConfiguration", [], (None,), lambda values: (MDispatcherConfiguration(values[0]),)
    )


def systemSetConfiguration(configuration: MDispatcherConfiguration, store: bool | int) -> Any:
    """`err`: apply the changed settings now; with `store` true they also apply after a restart."""
    if not isinstance(configuration, MDispatcherConfiguration):
        return bad_argument("systemSetConfiguration", "needs an MDispatcherConfiguration", _NONE)
    return invoke("systemSetConfiguration", [configuration.to_dict()["values"], bool(store)], _NONE)


def systemGetLDAPConfiguration() -> Any:
    """`err, configuration`: the directory settings as an MLDAPConfiguration."""
    return invoke(
        "systemGetLDAPConfiguration", [], (None,), lambda values: (MLDAPConfiguration(values[0]),)
    )


def systemSetLDAPConfiguration(configuration: MLDAPConfiguration, store: bool | int) -> Any:
    """`err`: set the directory settings; with `store` true they are kept across restarts."""
    if not isinstance(configuration, MLDAPConfiguration):
        return bad_argument("systemSetLDAPConfiguration", "needs an MLDAPConfiguration", _NONE)
    return invoke("systemSetLDAPConfiguration", [configuration.to_dict(), bool(store)], _NONE)


def systemGetActivityLogsList() -> Any:
    """`err, names`: the activity log files (one per day: what happened to jobs and nodes)."""
    return invoke("systemGetActivityLogsList", [], ([],))


def systemGetActivityLog(name: str) -> Any:
    """`err, text`: the content of one activity log file."""
    return _name("systemGetActivityLog", name, ("",))


def systemRemoveActivityLog(name: str) -> Any:
    """`err`: delete one activity log file."""
    return _name("systemRemoveActivityLog", name, _NONE)


def systemGetActionLogsList() -> Any:
    """`err, names`: the action log files (who did what)."""
    return invoke("systemGetActionLogsList", [], ([],))


def systemGetActionLog(name: str) -> Any:
    """`err, text`: the content of one action log file."""
    return _name("systemGetActionLog", name, ("",))


def systemRemoveActionLog(name: str) -> Any:
    """`err`: delete one action log file."""
    return _name("systemRemoveActionLog", name, _NONE)


# -- the dispatcher log ---------------------------------------------------------


def logClear() -> Any:
    """`err`: empty the dispatcher log (logs/dispatcher.log)."""
    return invoke("logClear", [], _NONE)


def logAddInternalMessage(message: str) -> Any:
    """`err`: add a message marked internal (a debugging note) to the dispatcher log."""
    if not isinstance(message, str):
        return bad_argument(
            "logAddInternalMessage", f"the message must be a string, not {message!r}", _NONE
        )
    return invoke("logAddInternalMessage", [message], _NONE)


def logAddMessage(message: str) -> Any:
    """`err`: add a message to the dispatcher log."""
    if not isinstance(message, str):
        return bad_argument(
            "logAddMessage", f"the message must be a string, not {message!r}", _NONE
        )
    return invoke("logAddMessage", [message], _NONE)
