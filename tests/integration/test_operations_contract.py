"""The contract of the operations layer: each operation run through REST and through
MDispatcherAPI (a script in the dispatcher context, run by the same user) has the same
effect, writes the same action-log line (actor, action, ids) and publishes the same
event; through REST a user without the permission is refused and nothing changes; a
template's hook acts as `template:KEY` with the dispatcher's authority."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tests.integration.hookfarm import write_template
from tests.integration.inprocess import HttpError, Live, live_dispatcher

pytestmark = pytest.mark.integration

Ctx = dict[str, Any]


TITLES = itertools.count(1)  # a live job's title is unique on POST /api/v1/jobs/


async def _job(live: Live, **extra: Any) -> Ctx:
    title = f"c {next(TITLES)}"
    job = await live.rest(
        "POST", "/api/v1/jobs/", {"title": title, "command": ["true"], "paused": True, **extra}
    )
    return {"job": job["id"]}


async def _job_in_folder(live: Live) -> Ctx:
    folder = await live.rest(
        "POST", "/api/v1/jobs/", {"title": f"f {next(TITLES)}", "kind": "folder"}
    )
    return {**await _job(live), "folder": folder["id"]}


async def _node(live: Live) -> Ctx:
    nodes = await live.rest("GET", "/api/v1/nodes/")
    return {"node": nodes[0]["id"]}


@dataclass
class Case:
    name: str
    setup: Callable[[Live], Awaitable[Ctx]]
    rest: Callable[[Live, Ctx], Awaitable[Any]]
    api: str  # an MDispatcherAPI call, formatted with the setup's ids
    action: str
    ids: Callable[[Ctx], Ctx]  # what the action-log line names
    event: Callable[[Ctx], Ctx]  # the event's fields
    effect: Callable[[Live, Ctx], Awaitable[Any]]


def _view(live: Live, ctx: Ctx, *names: str) -> Awaitable[Any]:
    async def probe() -> Any:
        view = await live.rest("GET", f"/api/v1/jobs/{ctx['job']}")
        return [
            view[name] if name != "parent" else view[name] == ctx.get("folder") for name in names
        ]

    return probe()


async def _gone(live: Live, ctx: Ctx) -> Any:
    try:
        await live.rest("GET", f"/api/v1/jobs/{ctx['job']}")
    except HttpError as exc:
        return exc.status
    return 200


async def _node_view(live: Live, ctx: Ctx) -> Any:
    view = await live.rest("GET", f"/api/v1/nodes/{ctx['node']}")
    return [view["paused"], view["notes"], view["process_priority"], view["realtime_log"]]


def _node_action(action: str, body: Any = None) -> Callable[[Live, Ctx], Awaitable[Any]]:
    return lambda live, ctx: live.rest(
        "POST", f"/api/v1/nodes/{ctx['node']}/actions/{action}", body
    )


CASES = [
    Case("submit", lambda live: _no_ids(), lambda live, ctx: live.rest("POST", "/api/v1/jobs/", {"title": "s", "command": ["true"], "paused": True, "priority": 33}),
         'MDispatcherAPI.jobSubmit(_mjob("s", 33), "admin")', "submit",
         lambda ctx: {}, lambda ctx: {"type": "job"}, lambda live, ctx: _last_job(live)),
    Case("edit", _job, lambda live, ctx: live.rest("PATCH", f"/api/v1/jobs/{ctx['job']}", {"priority": 77}),
         '_edit({job}, 77)', "edit",
         lambda ctx: {"job": ctx["job"], "fields": ["priority"]},
         lambda ctx: {"type": "job", "jobs": [ctx["job"]], "fields": ["priority"]},
         lambda live, ctx: _view(live, ctx, "priority")),
    Case("reparent", _job_in_folder, lambda live, ctx: live.rest("PATCH", f"/api/v1/jobs/{ctx['job']}", {"parent": ctx["folder"]}),
         "MDispatcherAPI.jobReparent({job}, {folder})", "edit",
         lambda ctx: {"job": ctx["job"], "fields": ["parent"]},
         lambda ctx: {"type": "job", "jobs": [ctx["job"]], "fields": ["parent"]},
         lambda live, ctx: _view(live, ctx, "parent")),
    Case("reinit", _job, lambda live, ctx: live.rest("POST", f"/api/v1/jobs/{ctx['job']}/actions/reinit"),
         "MDispatcherAPI.jobReinit({job})", "reinit",
         lambda ctx: {"job": ctx["job"]}, lambda ctx: {"type": "job", "jobs": [ctx["job"]]},
         lambda live, ctx: _view(live, ctx, "state")),
    Case("delete", _job, lambda live, ctx: live.rest("DELETE", f"/api/v1/jobs/{ctx['job']}"),
         "MDispatcherAPI.jobDelete({job})", "delete",
         lambda ctx: {"job": ctx["job"]}, lambda ctx: {"type": "job", "jobs": [ctx["job"]]}, _gone),
    Case("chunk_set_status", _job, lambda live, ctx: live.rest("POST", f"/api/v1/jobs/{ctx['job']}/tasks/{live.dispatcher.queue.jobs[ctx['job']].task_id(0)}", {"state": "skipped"}),
         'MDispatcherAPI.chunkSetStatus({job}, 0, "skipped")', "chunk_set_status",
         lambda ctx: {"job": ctx["job"], "chunk": 0, "state": "skipped"},
         lambda ctx: {"type": "chunk", "job": ctx["job"], "chunk": 0, "state": "skipped"},
         lambda live, ctx: _view(live, ctx, "state", "chunks")),
    Case("node_pause", _node, _node_action("pause"), "MDispatcherAPI.nodePause({node})", "node_pause",
         lambda ctx: {"node": ctx["node"]}, lambda ctx: {"type": "node", "nodes": [ctx["node"]]}, _node_view),
    Case("node_resume", _node, _node_action("resume"), "MDispatcherAPI.nodeResume({node})", "node_resume",
         lambda ctx: {"node": ctx["node"]}, lambda ctx: {"type": "node", "nodes": [ctx["node"]]}, _node_view),
    Case("node_notes", _node, _node_action("notes", {"notes": "fan"}), 'MDispatcherAPI.nodeSetNotes({node}, "fan")',
         "node_notes", lambda ctx: {"node": ctx["node"]}, lambda ctx: {"type": "node", "nodes": [ctx["node"]]}, _node_view),
    Case("node_priority", _node, _node_action("priority", {"priority": 5}), "MDispatcherAPI.nodeSetProcessPriority({node}, 5)",
         "node_priority", lambda ctx: {"node": ctx["node"], "priority": 5},
         lambda ctx: {"type": "node", "nodes": [ctx["node"]]}, _node_view),
    Case("node_realtime_log", _node, _node_action("realtime-log", {"on": False}), "MDispatcherAPI.nodeSetRealtimeLog({node}, False)",
         "node_realtime_log", lambda ctx: {"node": ctx["node"], "on": False},
         lambda ctx: {"type": "node", "nodes": [ctx["node"]]}, _node_view),
    Case("node_update", _node, _node_action("update"), "MDispatcherAPI.nodeForceUpdate({node})", "node_update",
         lambda ctx: {"node": ctx["node"]}, lambda ctx: {"type": "node", "nodes": [ctx["node"]]}, _node_view),
    Case("node_kill", _node, _node_action("kill"), "MDispatcherAPI.nodeKillProcess({node})", "node_kill",
         lambda ctx: {"node": ctx["node"], "chunks": 0}, lambda ctx: {"type": "node", "nodes": [ctx["node"]]}, _node_view),
    Case("node_purge_exclusions", _node, _node_action("purge-exclusions", {"template": "cmdline"}),
         'MDispatcherAPI.nodePurgeTemplatesExclusion({node}, "cmdline")', "node_purge_exclusions",
         lambda ctx: {"node": ctx["node"], "purged": []}, lambda ctx: {"type": "node", "nodes": [ctx["node"]]}, _node_view),
    Case("kill_nodes_on_job", _job, lambda live, ctx: live.rest("POST", f"/api/v1/jobs/{ctx['job']}/kill-nodes", {"then": "redo"}),
         "MDispatcherAPI.nodeKillAndRedoNodesWorkingOnJob({job})", "kill_nodes_on_job",
         lambda ctx: {"job": ctx["job"], "then": "redo", "nodes": []},
         lambda ctx: {"type": "node", "job": ctx["job"], "nodes": []}, lambda live, ctx: _view(live, ctx, "state")),
]  # fmt: skip

SCRIPT_HEAD = """
import json, MDispatcherAPI

def _mjob(title, priority):
    job = MDispatcherAPI.MJob()
    job.setName(title)
    job.setPriority(priority)
    job.setCommand(["true"])
    job.setPaused(True)
    return job

def _edit(job_id, priority):
    err, job = MDispatcherAPI.jobGet(job_id)
    job.setPriority(priority)
    return MDispatcherAPI.jobEdit(job)
"""


async def _no_ids() -> Ctx:
    return {}


async def _last_job(live: Live) -> Any:
    jobs = await live.rest("GET", "/api/v1/jobs/")
    if not jobs:
        return None
    last = jobs[-1]
    return [last["title"], last["priority"], last["user"], last["paused"]]


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    async with live_dispatcher(tmp_path / "farm") as live:
        live.client("alpha")
        await live.wait(lambda: live.dispatcher.node_server.connected(), what="a node online")
        live.viewer = await live.user("viewer")  # type: ignore[attr-defined]
        yield live


async def _run(
    live: Live, case: Case, via: str, token: str | None = None
) -> tuple[Ctx, Any, Any, Any]:
    ctx = await case.setup(live)
    actions, events = len(live.actions()), len(live.events)
    if via == "rest":
        await case.rest(live, ctx)
    else:
        code = await live.script(
            SCRIPT_HEAD + f"result = {case.api.format(**ctx)}\n"
            "err = result[0] if isinstance(result, tuple) else result\n"
            "print(json.dumps([err.getErrorCode(), err.getDescription()]))\n"
        )
        assert code == [0, ""], (case.name, code)
    lines = [line for line in live.actions()[actions:] if line["action"] != "run_script"]
    published = [msgspec.to_builtins(e) for e in live.events[events:] if e.action != "run_script"]
    return ctx, lines, published, await case.effect(live, ctx)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_rest_and_api_reach_the_same_operation(live: Live, case: Case) -> None:
    results = {via: await _run(live, case, via) for via in ("rest", "api")}
    for via, (ctx, lines, events, _) in results.items():
        assert len(lines) == 1 and len(events) == 1, (via, lines, events)
        line, event = lines[0], events[0]
        assert (line["user"], line["action"]) == ("admin", case.action), (via, line)
        assert {key: line[key] for key in case.ids(ctx)} == case.ids(ctx), (via, line)
        assert (event["actor"], event["action"]) == ("admin", case.action), (via, event)
        assert {key: event[key] for key in case.event(ctx)} == case.event(ctx), (via, event)
    assert results["rest"][3] == results["api"][3], "the same effect through both fronts"


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_rest_refuses_a_user_without_the_permission(live: Live, case: Case) -> None:
    ctx = await case.setup(live)
    before = await case.effect(live, ctx)
    actions, events = len(live.actions()), len(live.events)
    viewer = live.viewer  # type: ignore[attr-defined]

    async def as_viewer(method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        return await Live.rest(live, method, path, body, viewer)

    live.rest = as_viewer  # type: ignore[method-assign]
    try:
        with pytest.raises(HttpError) as refused:
            await case.rest(live, ctx)
    finally:
        del live.rest
    assert refused.value.status == 403, refused.value.body
    assert "viewer" in refused.value.body["detail"]
    assert live.actions()[actions:] == [] and live.events[events:] == []
    assert await case.effect(live, ctx) == before


TEMPLATE = """
class Hooked(Base):
    def __init__(self):
        self.setup(90, "hooked")

    def onSubmitJob(self, job):
        target = job.to_dict()["data"].get("pause")
        if target:
            MDispatcherAPI.jobReinit(target)
            MDispatcherAPI.jobReparent(target, job.to_dict()["data"]["folder"])
        return MTemplateAPI.MTemplateError()

MTemplateAPI.MManager.getUniqueClass().installPyTemplate(Hooked())
"""


async def test_a_hook_acts_as_its_template_with_the_dispatchers_authority(tmp_path: Path) -> None:
    from tests.integration.hookfarm import TEMPLATE_HEAD

    templates = tmp_path / "templates"
    write_template(templates, "hooked.py", TEMPLATE_HEAD + TEMPLATE)
    async with live_dispatcher(tmp_path / "farm", templates) as live:
        other = await live.user("other", "submit", "manage_own")
        victim = await live.rest(
            "POST", "/api/v1/jobs/", {"title": "admin's", "command": ["true"], "paused": True}
        )
        folder = await live.rest(
            "POST", "/api/v1/jobs/", {"title": f"f {next(TITLES)}", "kind": "folder"}
        )
        # A plain user may not touch admin's job ...
        with pytest.raises(HttpError) as refused:
            await live.rest("POST", f"/api/v1/jobs/{victim['id']}/actions/reinit", token=other)
        assert refused.value.status == 403
        # ... but the template's hook, running for that user's submission, may.
        actions = len(live.actions())
        await live.rest("POST", "/api/v1/jobs/", {"title": "trigger", "template": "hooked", "command": ["true"],
                                                  "data": {"pause": victim["id"], "folder": folder["id"]}}, other)  # fmt: skip
        moved = await live.wait(
            lambda: live.rest("GET", f"/api/v1/jobs/{victim['id']}"), what="the hook's reparent"
        )
        await live.wait(lambda: _parent(live, victim["id"], folder["id"]), what="the reparent")
        lines = [(line["user"], line["action"]) for line in live.actions()[actions:]]
        assert ("template:hooked", "reinit") in lines and ("template:hooked", "edit") in lines, (
            lines
        )
        assert ("other", "submit") in lines
        actors = {(event.actor, event.action) for event in live.events}
        assert ("template:hooked", "reinit") in actors and ("template:hooked", "edit") in actors
        assert moved["id"] == victim["id"]


async def _parent(live: Live, job: int, folder: int) -> bool:
    return bool((await live.rest("GET", f"/api/v1/jobs/{job}"))["parent"] == folder)


async def test_a_failing_subscriber_never_breaks_an_operation(live: Live) -> None:
    def broken(event: Any) -> None:
        raise RuntimeError("a subscriber's bug")

    live.dispatcher.bus.subscribe(broken)
    job = await live.rest(
        "POST", "/api/v1/jobs/", {"title": "x", "command": ["true"], "paused": True}
    )
    edited = await live.rest("PATCH", f"/api/v1/jobs/{job['id']}", {"priority": 12})
    assert edited["priority"] == 12
    assert [event.action for event in live.events[-2:]] == ["submit", "edit"]
