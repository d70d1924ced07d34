"""Print docs/console-api-status.md: every MConsoleAPI function, the REST route it calls
and what it returns.

    python -m console.consoleapi.status > docs/console-api-status.md

`ROUTES` is checked against the dispatcher's declared routes by the unit tests,
and the page against this module's output.
"""

from __future__ import annotations

import sys

import MConsoleAPI
from hooks.api.dispatcher_api import AREAS, EXTENSIONS, FUNCTION_NAMES
from hooks.api.status import _parameters, _summary

# function -> the REST route(s) it calls (the same operation as MDispatcherAPI's).
ROUTES: dict[str, tuple[str, ...]] = {
    "jobGetList": ("GET /api/v1/jobs/",),
    "jobGet": ("GET /api/v1/jobs/{job}",),
    "jobReparent": ("PATCH /api/v1/jobs/{job}",),
    "jobSubmit": ("POST /api/v1/jobs/",),
    "jobEdit": ("PATCH /api/v1/jobs/{job}",),
    "jobAddFolder": ("POST /api/v1/folders/",),
    "jobReinit": ("POST /api/v1/jobs/{job}/actions/{action}",),
    "jobDelete": ("DELETE /api/v1/jobs/{job}",),
    "jobUpdateStatus": ("POST /api/v1/jobs/{job}/actions/{action}",),
    "jobUpdate": ("POST /api/v1/jobs/{job}/actions/{action}",),
    "chunkGetList": ("GET /api/v1/jobs/{job}/chunks/",),
    "chunkGet": ("GET /api/v1/jobs/{job}/chunks/{chunk}",),
    "chunkSetStatus": ("PUT /api/v1/jobs/{job}/chunks/{chunk}",),
    "nodeKillProcess": ("POST /api/v1/nodes/{node}/actions/{action}",),
    "nodeKillProcessAndPause": ("POST /api/v1/nodes/{node}/actions/{action}",),
    "nodeKillProcessAndRestart": ("POST /api/v1/nodes/{node}/actions/{action}",),
    "nodeKillAndPauseNodesWorkingOnJob": ("POST /api/v1/jobs/{job}/kill-nodes",),
    "nodeKillAndRedoNodesWorkingOnJob": ("POST /api/v1/jobs/{job}/kill-nodes",),
    "nodeKillAndGoOnNodesWorkingOnJob": ("POST /api/v1/jobs/{job}/kill-nodes",),
    "nodePause": ("POST /api/v1/nodes/{node}/actions/{action}",),
    "nodeResume": ("POST /api/v1/nodes/{node}/actions/{action}",),
    "nodeForceUpdate": ("POST /api/v1/nodes/{node}/actions/{action}",),
    "nodeSetProcessPriority": ("POST /api/v1/nodes/{node}/actions/{action}",),
    "nodeSoftRestart": ("POST /api/v1/nodes/{node}/actions/{action}",),
    "nodePurgeTemplatesExclusion": ("POST /api/v1/nodes/{node}/actions/{action}",),
    "nodePurgeJobsExclusions": ("POST /api/v1/nodes/{node}/actions/{action}",),
    "nodeSetRealtimeLog": ("POST /api/v1/nodes/{node}/actions/{action}",),
    "nodeSendSystemEvent": ("POST /api/v1/nodes/{node}/actions/{action}",),
    "nodeRunPythonCode": ("POST /api/v1/nodes/{node}/actions/{action}",),
    "nodeSetNotes": ("POST /api/v1/nodes/{node}/actions/{action}",),
    "nodeRemoveRegistration": ("DELETE /api/v1/nodes/{node}",),
    "nodeGetList": ("GET /api/v1/nodes/",),
    "nodeGet": ("GET /api/v1/nodes/{node}",),
    "nodeGetByName": ("GET /api/v1/nodes/{node}",),
    "dbGetStatisticsBounds": ("GET /api/v1/statistics/bounds",),
    "dbGetHistoryBounds": ("GET /api/v1/history/bounds",),
    "dbClearStatisticsBounds": ("DELETE /api/v1/statistics/",),
    "dbClearHistoryBounds": ("DELETE /api/v1/history/",),
    "dbImportQueueSQL": ("POST /api/v1/queue/import",),
    "dbExportQueueSQL": ("GET /api/v1/queue/export",),
    "systemQueryEngineStatus": ("GET /api/v1/system/engine",),
    "systemSwapEngineStatus": ("POST /api/v1/system/engine/swap",),
    "systemSoftRestart": ("POST /api/v1/system/soft-restart",),
    "systemResetStatisticsCounters": ("POST /api/v1/system/counters/reset",),
    "systemStartNodesNetworkScan": ("POST /api/v1/system/nodes-scan",),
    "systemGetConfiguration": ("GET /api/v1/system/configuration",),
    "systemSetConfiguration": ("PATCH /api/v1/system/configuration",),
    "systemGetLDAPConfiguration": ("GET /api/v1/system/ldap",),
    "systemSetLDAPConfiguration": ("PUT /api/v1/system/ldap",),
    "systemGetActivityLogsList": ("GET /api/v1/logs/{kind}/",),
    "systemGetActivityLog": ("GET /api/v1/logs/{kind}/{name}",),
    "systemRemoveActivityLog": ("DELETE /api/v1/logs/{kind}/{name}",),
    "systemGetActionLogsList": ("GET /api/v1/logs/{kind}/",),
    "systemGetActionLog": ("GET /api/v1/logs/{kind}/{name}",),
    "systemRemoveActionLog": ("DELETE /api/v1/logs/{kind}/{name}",),
    "logClear": ("DELETE /api/v1/logs/dispatcher",),
    "logAddInternalMessage": ("POST /api/v1/logs/dispatcher",),
    "logAddMessage": ("POST /api/v1/logs/dispatcher",),
    "userGetList": ("GET /api/v1/users/",),
    "userGet": ("GET /api/v1/users/{user}",),
    "userAdd": ("POST /api/v1/users/",),
    "userRemove": ("DELETE /api/v1/users/{user}",),
    "userConfigure": ("PATCH /api/v1/users/{user}",),
    "groupGetList": ("GET /api/v1/groups/",),
    "groupGet": ("GET /api/v1/groups/{group}",),
    "groupAdd": ("POST /api/v1/groups/",),
    "groupRemove": ("DELETE /api/v1/groups/{group}",),
    "groupConfigure": ("PATCH /api/v1/groups/{group}",),
    "poolGetList": ("GET /api/v1/pools/",),
    "poolGet": ("GET /api/v1/pools/{pool}",),
    "poolConfigure": ("PATCH /api/v1/pools/{pool}",),
    "poolAdd": ("POST /api/v1/pools/",),
    "poolRemove": ("DELETE /api/v1/pools/{pool}",),
    "poolNotifyChanges": ("POST /api/v1/pools/notify",),
    "repositoriesGetList": ("GET /api/v1/repositories/",),
    "repositoriesGet": ("GET /api/v1/repositories/{repository}",),
    "repositoriesConfigure": ("PATCH /api/v1/repositories/{repository}",),
    "repositoriesAdd": ("POST /api/v1/repositories/",),
    "repositoriesNotifyChanges": ("POST /api/v1/repositories/notify",),
    "repositoriesRemove": ("DELETE /api/v1/repositories/{repository}",),
    "nodeGetTemplateConfiguration": ("GET /api/v1/nodes/{node}/template-config/{template}",),
    "nodeSetTemplateConfiguration": ("PUT /api/v1/nodes/{node}/template-config/{template}",),
    "poolGetTemplateConfiguration": ("GET /api/v1/pools/{pool}/template-config/{template}",),
    "poolSetTemplateConfiguration": ("PUT /api/v1/pools/{pool}/template-config/{template}",),
}


def render() -> str:
    table = MConsoleAPI.functions(extensions=True)
    supported = len(FUNCTION_NAMES) - len(MConsoleAPI.NOT_SUPPORTED)
    lines = [
        "# MConsoleAPI status",
        "",
        "Generated by `python -m console.consoleapi.status`; a test fails when this page is "
        "out of date.",
        "",
        f"{supported} of the {len(FUNCTION_NAMES)} MDispatcherAPI functions work from a console "
        "(none is",
        "unsupported). Each calls the REST route below, which reaches the same operation as",
        "the dispatcher context's function, and returns what that function returns. Every",
        "function is called from a console-context script on a live farm by",
        "`tests/integration/test_console_api.py`. Corral's four client-configuration",
        "functions are there too, as in MDispatcherAPI.",
        "",
    ]
    areas = {**AREAS, "Corral's extensions: client configuration": EXTENSIONS}
    for area, names in areas.items():
        title = area[0].upper() + area[1:]
        lines += [f"## {title}", "", "| function | REST | returns |", "|---|---|---|"]
        for name in names:
            routes = ", ".join(f"`{route}`" for route in ROUTES[name])
            signature = _parameters(table[name])
            lines.append(f"| `{name}{signature}` | {routes} | {_summary(table[name])} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(render())
