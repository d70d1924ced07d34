"""Every REST route and every MDispatcherAPI function reaches the operations layer: a spy
on each operation records the calls, and a route or function that answers without
calling one fails the test. The fronts import nothing of the core either."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from dispatcher.operations import Area
from hooks import wire
from hooks.api.dispatcher_api import EXTENSIONS, FUNCTION_NAMES
from tests.integration.inprocess import HttpError, Live, live_dispatcher

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FRONTS = [*sorted((ROOT / "dispatcher" / "web").glob("*.py")), *sorted((ROOT / "hooks" / "service").glob("*.py"))]  # fmt: skip
CORE = ("dispatcher.queue", "dispatcher.control", "dispatcher.store", "dispatcher.nodes",
        "dispatcher.scheduler", "dispatcher.app", "dispatcher.records", "dispatcher.auth")  # fmt: skip


class Spy:
    """Wraps every public method of every area; `calls` names those called."""

    def __init__(self, live: Live) -> None:
        self.calls: list[str] = []
        for area_name, area in live.ops.areas().items():
            for name in dir(type(area)):
                if name.startswith("_") or name in dir(Area):
                    continue
                method = getattr(area, name)
                if callable(method):
                    setattr(area, name, self._wrap(f"{area_name}.{name}", method))

    def _wrap(self, label: str, method: Any) -> Any:
        def spy(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(label)
            return method(*args, **kwargs)

        return spy


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    async with live_dispatcher(tmp_path / "farm") as live:
        live.client("alpha")
        await live.wait(lambda: live.dispatcher.node_server.connected(), what="a node online")
        yield live


def _routes(live: Live) -> list[tuple[str, str]]:
    assert live.dispatcher.web is not None
    found = []
    for route in live.dispatcher.web.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if route.method != "HEAD" and path:
            found.append((route.method, path))
    return found


def _bodies(method: str, path: str, job: int, task: int) -> list[tuple[str, Any]]:
    """Concrete requests for a route: its path filled in, and a plausible body."""
    from dispatcher.web.nodes import ACTIONS

    filled = path.replace("{job}", str(job)).replace("{chunk}", "0").replace("{node}", "1")
    filled = filled.replace("{task}", str(task)).replace("{agent}", "no-such-node")
    filled = filled.replace("{name}", "blender")
    if path == "/api/v1/jobs/actions/{action}":
        from dispatcher.web.jobs import WORK_ACTIONS

        actions = [action for action in WORK_ACTIONS if action != "delete"]  # it removes the job
        return [(filled.replace("{action}", action), {"jobs": [job]}) for action in actions]
    if "{action}" in filled and "/nodes/" in filled:
        return [(filled.replace("{action}", action), None) for action in ACTIONS]
    if "{action}" in filled:
        return [
            (filled.replace("{action}", action), None) for action in ("pause", "resume", "reinit")
        ]
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/api/v1/jobs/"): {"title": f"spied {job}", "command": ["true"], "paused": True},
        ("PATCH", "/api/v1/jobs/{job}"): {"priority": 3},
        ("POST", "/api/v1/jobs/{job}/tasks/{task}"): {"state": "skipped"},
        ("PUT", "/api/v1/jobs/{job}/tasks/{task}"): {"state": "skipped"},
        ("POST", "/api/v1/jobs/{job}"): {"priority": 3},
        ("PUT", "/api/v1/jobs/{job}"): {"priority": 3},
        ("POST", "/api/v1/software/"): {"software": "blender", "versions": ["4.0"]},
        ("POST", "/api/v1/jobtypes/"): {"name": "TestJobType", "template": "cmdline"},
        ("POST", "/api/v1/jobs/{job}/kill-nodes"): {"then": "go-on"},
        ("POST", "/api/v1/scripts/run"): {"name": "s.py", "code": "print(1)"},
        ("POST", "/api/v1/login"): {"username": "admin", "password": "wrong"},
    }
    return [(filled, bodies.get((method, path)))]


async def test_every_rest_route_reaches_an_operation(live: Live) -> None:
    spy = Spy(live)
    routes = _routes(live)
    assert len(routes) >= 20, routes
    silent = []
    for method, path in routes:
        if method == "DELETE":
            continue  # last: they remove what the others use
        job = (
            await live.rest(
                "POST",
                "/api/v1/jobs/",
                {"title": f"t {method} {path}", "command": ["true"], "paused": True},
            )
        )["id"]
        task = live.dispatcher.queue.jobs[job].task_id(0)
        for url, body in _bodies(method, path, job, task):
            spy.calls.clear()
            with contextlib.suppress(HttpError):  # a refusal still went through an operation
                if url == "/api/v1/events":  # a stream that never ends: its headers suffice
                    await _open_stream(live, url)
                else:
                    await live.rest(method, url, body)
            if not spy.calls:
                silent.append(f"{method} {url}")
    for method, path in routes:
        if method == "DELETE":
            job = (
                await live.rest(
                    "POST", "/api/v1/jobs/", {"title": f"t {path}", "command": ["true"]}
                )
            )["id"]
            task = live.dispatcher.queue.jobs[job].task_id(0)
            for url, _ in _bodies(method, path, job, task):
                spy.calls.clear()
                with contextlib.suppress(HttpError):
                    await live.rest(method, url)
                if not spy.calls:
                    silent.append(f"{method} {url}")
    assert not silent, f"routes that reach no operation: {silent}"


async def _open_stream(live: Live, url: str) -> None:
    headers = {"Authorization": f"Bearer {live.token}"}
    async with live.session.get(live.dispatcher.http_url + url, headers=headers) as answer:
        assert answer.status == 200, answer.status


ARGS: dict[str, list[Any]] = {
    "jobGet": ["{job}"], "jobReparent": ["{job}", -1], "jobEdit": [{"id": "{job}", "priority": 9}],
    "jobSubmit": [{"title": "api", "command": ["true"], "paused": True}, "admin"],
    "jobAddFolder": [-1, "admin", "folder"], "jobReinit": ["{job}"], "jobDelete": ["{job}"],
    "jobUpdateStatus": ["{job}"], "jobUpdate": ["{job}"], "chunkGetList": ["{job}"],
    "chunkGet": ["{job}", 0], "chunkSetStatus": ["{job}", 0, "skipped"],
    "nodeKillAndPauseNodesWorkingOnJob": ["{job}"], "nodeKillAndRedoNodesWorkingOnJob": ["{job}"],
    "nodeKillAndGoOnNodesWorkingOnJob": ["{job}"], "nodeSetProcessPriority": [1, 0],
    "nodePurgeTemplatesExclusion": [1, None], "nodePurgeJobsExclusions": [1, None],
    "nodeSetRealtimeLog": [1, True], "nodeSendSystemEvent": [1, "logoff"],
    "nodeRunPythonCode": [1, "print(1)"], "nodeSetNotes": [1, "n"], "nodeGetByName": ["alpha"],
    "dbClearStatisticsBounds": [0, 1], "dbClearHistoryBounds": [0, 1], "dbImportQueueSQL": ["nonsense"],
    "systemSetConfiguration": [{}, False], "systemSetLDAPConfiguration": [{}, False],
    "systemGetActivityLog": ["activity-2000-01-01.log"], "systemRemoveActivityLog": ["activity-2000-01-01.log"],
    "systemGetActionLog": ["actions.log"], "systemRemoveActionLog": ["actions-old.log"],
    "logAddInternalMessage": ["m"], "logAddMessage": ["m"],
    "userGet": ["admin"], "userAdd": [{"name": "u1"}], "userRemove": ["u1"], "userConfigure": [{"name": "admin"}],
    "groupGet": ["g1"], "groupAdd": [{"name": "g1"}], "groupRemove": ["g1"], "groupConfigure": [{"name": "g1"}],
    "poolGet": ["p1"], "poolAdd": [{"name": "p1"}], "poolRemove": ["p1"], "poolConfigure": [{"name": "p1"}],
    "repositoriesGet": ["r1"], "repositoriesAdd": [{"name": "r1"}], "repositoriesRemove": ["r1"],
    "repositoriesConfigure": [{"name": "r1"}],
    "nodeGetTemplateConfiguration": [1, "python"], "nodeSetTemplateConfiguration": [1, "python", {}],
    "poolGetTemplateConfiguration": ["p1", "python"],
    "poolSetTemplateConfiguration": ["p1", "python", {}],
}  # fmt: skip
NODE_ONLY = re.compile(r"^node(?!GetList|.*WorkingOnJob)")


async def test_every_api_function_reaches_an_operation(live: Live) -> None:
    spy = Spy(live)
    service = live.dispatcher.api
    silent = []
    for number, name in enumerate(FUNCTION_NAMES + EXTENSIONS, 1):
        if name == "systemSoftRestart":
            continue  # covered below: it restarts the hook host
        job = (
            await live.rest(
                "POST", "/api/v1/jobs/", {"title": f"t {name}", "command": ["true"], "paused": True}
            )
        )["id"]
        default = [1] if NODE_ONLY.match(name) else []
        args = [_fill(arg, job) for arg in ARGS.get(name, default)]
        spy.calls.clear()
        reply = service.handle(wire.ApiCall(number, name, args, "spy"))
        if asyncio.iscoroutine(reply):
            reply = await reply
        if not spy.calls:
            silent.append(f"{name}: {reply}")
    spy.calls.clear()
    reply = await service.handle(wire.ApiCall(0, "systemSoftRestart", [], "spy"))  # type: ignore[misc]
    assert reply.code == 0 and spy.calls[0] == "system.soft_restart"
    assert not silent, f"MDispatcherAPI functions that reach no operation: {silent}"


def _fill(value: Any, job: int) -> Any:
    if value == "{job}":
        return job
    if isinstance(value, dict):
        return {key: _fill(item, job) for key, item in value.items()}
    return value


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return found


def test_fronts_import_nothing_of_the_core() -> None:
    assert FRONTS
    for path in FRONTS:
        core = [name for name in _imports(path) if name.startswith(CORE)]
        assert not core, f"{path.relative_to(ROOT)} imports {core}"
        touching = re.findall(r"\.(queue|control|store)\.", path.read_text())
        assert not touching, f"{path.relative_to(ROOT)} reaches into the core: {touching}"


def test_imports_point_one_way() -> None:
    """fronts -> operations -> core -> model: nothing below imports what is above it.

    `dispatcher/app.py` puts one dispatcher together; `dispatcher/standby.py` runs
    whole dispatchers by turns (hot standby), so it sits above the app."""
    roots = ("dispatcher.app", "dispatcher.standby")
    above_core = ("dispatcher.operations", "dispatcher.web", "hooks.service", *roots)
    above_operations = ("dispatcher.web", "hooks.service", *roots)
    for path in sorted((ROOT / "dispatcher").rglob("*.py")) + sorted(
        (ROOT / "hooks").rglob("*.py")
    ):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith(("dispatcher/web/", "hooks/service/")) or relative in (
            "dispatcher/app.py",
            "dispatcher/standby.py",
        ):
            continue
        forbidden = (
            above_operations if relative.startswith("dispatcher/operations/") else above_core
        )
        wrong = [name for name in _imports(path) if name.startswith(forbidden)]
        assert not wrong, f"{relative} imports {wrong}"
