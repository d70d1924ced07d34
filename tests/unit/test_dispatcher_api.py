"""MDispatcherAPI without a dispatcher: wrong contexts, objects, the status page,
the snapshot format, the hook-host wire; and the check that every function has
a live-farm test."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

import MDispatcherAPI
import muster
from dispatcher.errors import ValidationError
from dispatcher.jobspec import build_job, parse_spec
from dispatcher.model import Job
from dispatcher.snapshot import export, parse
from hooks import wire
from hooks.api.context import set_context
from hooks.api.dispatcher_api import AREAS, EXTENSIONS, FUNCTION_NAMES, functions
from hooks.api.status import render
from hooks.api.template import MTemplateError
from hooks.host import interpret

ROOT = Path(__file__).resolve().parents[2]
LIVE_TEST_MODULES = (
    "test_api_jobs", "test_api_nodes", "test_api_system", "test_api_accounts",
    "test_template_client_config",
)  # fmt: skip


@pytest.fixture
def context() -> Iterator[None]:
    yield
    set_context("")


def public_functions() -> set[str]:
    """The functions `MDispatcherAPI` offers (what the meta-test holds to a live test each)."""
    return {name for name, value in vars(MDispatcherAPI).items()
            if inspect.isfunction(value) and not name.startswith("_")}  # fmt: skip


def test_the_seed_has_eighty_functions_in_nine_areas() -> None:
    assert len(FUNCTION_NAMES) == 80 == len(set(FUNCTION_NAMES))
    assert len(AREAS) == 9
    assert not set(EXTENSIONS) & set(FUNCTION_NAMES)
    assert public_functions() == set(FUNCTION_NAMES) | set(EXTENSIONS)


@pytest.mark.parametrize("where", ["", "console", "renderclient"])
def test_every_function_refuses_the_wrong_context_without_raising(
    context: None, where: str
) -> None:
    set_context(where)
    for name, function in functions(extensions=True).items():
        required = [
            p
            for p in inspect.signature(function).parameters.values()
            if p.default is inspect.Parameter.empty
        ]
        result = function(*[None] * len(required))
        err = result[0] if isinstance(result, tuple) else result
        assert isinstance(err, MDispatcherAPI.MUSTERERR), name
        assert err.getErrorCode() == MDispatcherAPI.kErrWrongContext, name
        assert (repr(where) if where else "plain Python") in err.getDescription(), name


def test_the_seed_selective_import_runs_as_written(context: None) -> None:
    source = (
        'if (muster.runningContext() == "console"): import MConsoleAPI\n'
        'elif (muster.runningContext() == "dispatcher"): import MDispatcherAPI\n'
        'elif (muster.runningContext() == "renderclient"): import MInstanceAPI\n'
    )
    for where in ("console", "dispatcher", "renderclient", ""):
        set_context(where)
        exec(source, {"muster": muster})
    for module in ("MConsoleAPI", "MClientAPI", "MInstanceAPI", "MTemplateAPI", "MDispatcherAPI"):
        importlib.import_module(module)


def test_returns_have_the_seed_shapes_on_errors(context: None) -> None:
    err, jobs = MDispatcherAPI.jobGetList()
    assert jobs == [] and err.getErrorCode() == 1
    err, start, end, samples = MDispatcherAPI.dbGetStatisticsBounds()
    assert (start, end, samples) == (0.0, 0.0, 0)
    assert isinstance(MDispatcherAPI.jobDelete(1), MDispatcherAPI.MUSTERERR)
    set_context("dispatcher")  # the right context, but no host link here
    err, job = MDispatcherAPI.jobGet(1)
    assert job is None and err.getErrorCode() == MDispatcherAPI.kErrDisconnected


def test_every_function_has_a_live_farm_test() -> None:
    from tests.integration.hookfarm import COVERED

    for module in LIVE_TEST_MODULES:
        importlib.import_module(f"tests.integration.{module}")
    missing = sorted(name for name in public_functions() if not COVERED.get(name))
    assert not missing, f"MDispatcherAPI functions without a dispatcher-context test: {missing}"


def test_the_status_page_is_current() -> None:
    assert (ROOT / "docs" / "api-status.md").read_text() == render(), (
        "docs/api-status.md is stale: run `python -m hooks.api.status > docs/api-status.md`"
    )


def test_error_codes_are_documented() -> None:
    text = (ROOT / "docs" / "hooks.md").read_text()
    for code, (name, _) in MDispatcherAPI.ERROR_CODES.items():
        assert f"| {code} | `{name}` |" in text, name


def test_farm_objects_round_trip() -> None:
    pool = MDispatcherAPI.MPool("gpu")
    pool.setNodes("b, a")
    pool.addNode("c")
    pool.removeNode("a")
    assert MDispatcherAPI.MPool(pool.to_dict()).getNodes() == "b,c"
    user = MDispatcherAPI.MUser("ana")
    user.setPermissions("submit, administer")
    assert user.hasPermission("manage_all") and user.getPermissions() == "submit,administer"
    repo = MDispatcherAPI.MRepository("projects")
    repo.setPath(0, "P:\\")
    assert repo.getWindowsPath() == "P:\\" and repo.getPath(2) == ""
    node = MDispatcherAPI.MNode(
        {"id": 3, "name": "box#1", "status": "busy", "running": [{"job": 4, "chunk": 2}]}
    )
    assert (node.getStatus(), node.getRunningJobs(), node.getRunningChunks()) == (2, [4], [(4, 2)])
    config = MDispatcherAPI.MDispatcherConfiguration(
        {"values": {"hook_timeout_s": 10.0}, "live": ["hook_timeout_s"]}
    )
    config.setHookTimeout(2)
    assert config.getHookTimeout() == 2.0 and config.isChangeable("hook_timeout_s")
    job = MDispatcherAPI.MJob()
    job.setDepends("3,4")
    job.setDependMode(MDispatcherAPI.MJob.kJobDependAlways)
    job.setJobType(MDispatcherAPI.MJob.kJobTypeFolder)
    assert job.getDependMode() == 2 and job.getJobType() == 1
    assert [entry["mode"] for entry in job.to_dict()["depends_on"]] == ["always", "always"]


def test_hook_returns_are_interpreted() -> None:
    assert interpret(None) == (True, 0, "")
    assert interpret(MTemplateError(3, "no")) == (False, 3, "no")
    assert interpret(False)[0] is False and interpret(True)[0] is True


def test_wire_round_trip_and_frame_limits() -> None:
    call = wire.Invoke(7, [wire.HookCall("t", "onJobEnd", {"id": 1}, None, [{"__ref__": "x"}])])
    data = wire.encode(call) + wire.encode(wire.ApiCall(1, "jobGet", [3]))
    buffer = wire.FrameBuffer()
    bodies = buffer.feed(data[:5]) + buffer.feed(data[5:])
    assert [wire.decode(body) for body in bodies] == [call, wire.ApiCall(1, "jobGet", [3])]
    with pytest.raises(wire.WireError):
        wire.FrameBuffer(max_frame_bytes=10).feed(wire.encode(call))
    with pytest.raises(wire.WireError):
        wire.decode(b"\x81\xa4type\xa3bad")


def _jobs() -> list[Job]:
    folder = build_job(parse_spec({"title": "f", "kind": "folder"}), 1, 1, "ann")
    job = build_job(
        parse_spec({"title": "it's", "frames": "1-5", "batch": 2, "parent": 1, "command": ["x"]}),
        2,
        2,
        "ann",
    )
    later = build_job(parse_spec({"title": "d", "depends_on": [2]}), 3, 3, "bo")
    return [folder, job, later]


def test_snapshot_round_trip() -> None:
    text = export(_jobs())
    again = parse(text)
    assert [(job.id, job.title, job.chunk_count, job.parent) for job in again] == [
        (1, "f", 0, -1),
        (2, "it's", 3, 1),
        (3, "d", 1, -1),
    ]
    assert again[2].depends_on[0].job_id == 2


@pytest.mark.parametrize(
    "change",
    [
        lambda text: "",
        lambda text: text.replace("-- corral queue export v1", "-- something else"),
        lambda text: text.replace("INSERT INTO jobs", "INSERT INTO meta", 1),
        lambda text: text.replace("-- end jobs=3", "-- end jobs=4"),
        lambda text: text.replace("-- end jobs=3\n", ""),
        lambda text: text + "DROP TABLE jobs;\n",
        lambda text: text.replace("VALUES (2,", "VALUES (1,"),  # a duplicate id
        lambda text: text.replace('"batch":2', '"batch":0'),  # breaks a spec rule
        lambda text: text.replace('"parent":1', '"parent":9'),  # a parent outside the snapshot
        lambda text: text.replace("X'000000'", "X'0000'", 1),  # arrays that do not match the frames
        lambda text: text.replace("\n-- end", "\nATTACH DATABASE 'x' AS x;\n-- end"),
    ],
)
def test_snapshot_import_refuses_anything_else(change: object) -> None:
    text = change(export(_jobs()))  # type: ignore[operator]
    with pytest.raises(ValidationError):
        parse(text)
