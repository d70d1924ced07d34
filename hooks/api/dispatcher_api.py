"""MDispatcherAPI, the whole module: Muster's 80 dispatcher functions and their objects.

Template hooks and dispatcher-context scripts import it as `MDispatcherAPI`.
Every function returns a MUSTERERR first, then its values::

    err, jobs = MDispatcherAPI.jobGetList()
    if err.getErrorCode() != 0:
        print("failed: " + err.getDescription())

`AREAS` lists the functions by area in the seed's order; the API status page
(docs/api-status.md) and the test that every function is tested read it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hooks.api.dispatcher_accounts import *  # noqa: F403
from hooks.api.dispatcher_jobs import *  # noqa: F403
from hooks.api.dispatcher_nodes import *  # noqa: F403
from hooks.api.dispatcher_system import *  # noqa: F403
from hooks.api.dispatcher_template_config import *  # noqa: F403
from hooks.api.dispatcher_template_config import EXTENSION_NAMES
from hooks.api.errors import *  # noqa: F403
from hooks.api.farm_objects import *  # noqa: F403
from hooks.api.objects import MChunk, MJob, MStringRef

AREAS: dict[str, tuple[str, ...]] = {
    "jobs": (
        "jobGetList", "jobGet", "jobReparent", "jobSubmit", "jobEdit", "jobAddFolder",
        "jobReinit", "jobDelete", "jobUpdateStatus", "jobUpdate",
    ),
    "chunks": ("chunkGetList", "chunkGet", "chunkSetStatus"),
    "nodes": (
        "nodeKillProcess", "nodeKillProcessAndPause", "nodeKillProcessAndRestart",
        "nodeKillAndPauseNodesWorkingOnJob", "nodeKillAndRedoNodesWorkingOnJob",
        "nodeKillAndGoOnNodesWorkingOnJob", "nodePause", "nodeResume", "nodeForceUpdate",
        "nodeSetProcessPriority", "nodeSoftRestart", "nodePurgeTemplatesExclusion",
        "nodePurgeJobsExclusions", "nodeSetRealtimeLog", "nodeSendSystemEvent",
        "nodeRunPythonCode", "nodeSetNotes", "nodeRemoveRegistration", "nodeGetList",
        "nodeGet", "nodeGetByName",
    ),
    "database": (
        "dbGetStatisticsBounds", "dbGetHistoryBounds", "dbClearStatisticsBounds",
        "dbClearHistoryBounds", "dbImportQueueSQL", "dbExportQueueSQL",
    ),
    "system": (
        "systemQueryEngineStatus", "systemSwapEngineStatus", "systemSoftRestart",
        "systemResetStatisticsCounters", "systemStartNodesNetworkScan", "systemGetConfiguration",
        "systemSetConfiguration", "systemGetLDAPConfiguration", "systemSetLDAPConfiguration",
        "systemGetActivityLogsList", "systemGetActivityLog", "systemRemoveActivityLog",
        "systemGetActionLogsList", "systemGetActionLog", "systemRemoveActionLog",
    ),
    "logs": ("logClear", "logAddInternalMessage", "logAddMessage"),
    "users and groups": (
        "userGetList", "userGet", "userAdd", "userRemove", "userConfigure",
        "groupGetList", "groupGet", "groupAdd", "groupRemove", "groupConfigure",
    ),
    "pools": ("poolGetList", "poolGet", "poolConfigure", "poolAdd", "poolRemove", "poolNotifyChanges"),
    "repositories": (
        "repositoriesGetList", "repositoriesGet", "repositoriesConfigure", "repositoriesAdd",
        "repositoriesNotifyChanges", "repositoriesRemove",
    ),
}  # fmt: skip

FUNCTION_NAMES: tuple[str, ...] = tuple(name for names in AREAS.values() for name in names)
# Corral's own functions beyond the seed's 80 (hooks/api/dispatcher_template_config.py).
EXTENSIONS: tuple[str, ...] = EXTENSION_NAMES


def functions(*, extensions: bool = False) -> dict[str, Callable[..., Any]]:
    """Every API function by name, in the seed's order (then Corral's, with `extensions`)."""
    namespace = globals()
    names = FUNCTION_NAMES + EXTENSIONS if extensions else FUNCTION_NAMES
    return {name: namespace[name] for name in names}


__all__ = [
    *FUNCTION_NAMES, *EXTENSIONS, "AREAS", "EXTENSIONS", "FUNCTION_NAMES", "MChunk", "MJob",
    "MStringRef",
]  # fmt: skip
