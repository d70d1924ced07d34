"""The Nuke, Maya and Houdini shelf snippets (examples/submit) submit to a real
dispatcher. Those applications cannot run here, so each test gives the snippet a
stand-in host module (`nuke`, `maya.cmds`, `hou`) answering the scene's path and
frame range; everything past it (corral_client, the REST API, the dispatcher) is
real."""

from __future__ import annotations

import importlib.util
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import corral_client
from tests.integration.farm import Farm
from tests.integration.hookfarm import start_farm

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "submit"


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    farm = start_farm(tmp_path_factory.mktemp("snippets") / "farm")
    for name in ("comp", "fx", "maya"):
        farm.request("POST", "/api/v1/pools/", {"name": name})
    yield farm
    farm.close()


@pytest.fixture
def env(farm: Farm, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The snippets find the dispatcher as `corral` does: here from the environment."""
    monkeypatch.setenv("CORRAL_DISPATCHER", farm.url)
    monkeypatch.setenv("CORRAL_TOKEN", farm.token)
    monkeypatch.setenv("HOME", str(tmp_path))


def load(name: str, monkeypatch: pytest.MonkeyPatch, **hosts: types.ModuleType) -> Any:
    for module_name, module in hosts.items():
        monkeypatch.setitem(sys.modules, module_name, module)
    spec = importlib.util.spec_from_file_location(f"snippet_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Knob:
    def __init__(self, value: float) -> None:
        self._value = value

    def value(self) -> float:
        return self._value


class FakeNode:
    def __init__(self, name: str, path: str = "", category: str = "") -> None:
        self._name, self._path, self._category = name, path, category

    def name(self) -> str:
        return self._name

    def path(self) -> str:
        return self._path

    def type(self) -> Any:
        category = types.SimpleNamespace(name=lambda: self._category)
        return types.SimpleNamespace(category=lambda: category)


def fake_nuke(script: str, first: int, last: int, modified: bool) -> types.ModuleType:
    nuke = types.ModuleType("nuke")
    calls: list[str] = []
    knobs = {"first_frame": Knob(first), "last_frame": Knob(last)}

    class Root:
        def name(self) -> str:
            return script

        def modified(self) -> bool:
            return modified

        def __getitem__(self, key: str) -> Knob:
            return knobs[key]

    nuke.root = Root  # type: ignore[attr-defined]
    nuke.scriptSave = lambda: calls.append("save")  # type: ignore[attr-defined]
    nuke.selectedNodes = lambda kind: (  # type: ignore[attr-defined]
        [FakeNode("Write2"), FakeNode("Write3")] if kind == "Write" else []
    )
    nuke.message = lambda text: calls.append("message: " + text)  # type: ignore[attr-defined]
    nuke.calls = calls  # type: ignore[attr-defined]
    return nuke


def test_nuke_snippet(farm: Farm, env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    nuke = fake_nuke("/proj/comp/shot010_v003.nk", 1001, 1024, modified=True)
    snippet = load("nuke_submit", monkeypatch, nuke=nuke)
    created = snippet.submit(["comp"], chunk_size=8, priority=60, title="nuke shot010")
    assert nuke.calls == ["save"]  # a modified script is saved before it is submitted
    job = farm.job(created["id"])
    assert (job["template"], job["title"], job["priority"]) == ("nuke", "nuke shot010", 60)
    assert (job["start"], job["end"], job["batch"], job["pools"]) == (1001.0, 1024.0, 8, ["comp"])
    assert job["chunks"]["total"] == 3
    assert job["data"]["job_file"] == "/proj/comp/shot010_v003.nk"
    assert job["data"]["render_node"] == "Write2,Write3"

    # The shelf entry says what happened, in Nuke's own message box.
    snippet.main()
    assert nuke.calls[-1].startswith("message: Corral: job "), nuke.calls
    monkeypatch.setenv("CORRAL_TOKEN", "not-a-token")
    snippet.main()
    assert nuke.calls[-1].startswith("message: Corral: the job was not submitted"), nuke.calls
    assert "HTTP 401" in nuke.calls[-1]


def test_nuke_snippet_refuses_an_unsaved_script(env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    nuke = fake_nuke("Root", 1, 10, modified=True)
    snippet = load("nuke_submit", monkeypatch, nuke=nuke)
    with pytest.raises(ValueError, match="save the script first"):
        snippet.submit()
    assert nuke.calls == []


def fake_maya(scene: str, first: float, last: float, step: float) -> types.ModuleType:
    maya = types.ModuleType("maya")
    cmds = types.ModuleType("maya.cmds")
    calls: list[str] = []
    attributes = {
        "defaultRenderGlobals.startFrame": first,
        "defaultRenderGlobals.endFrame": last,
        "defaultRenderGlobals.byFrameStep": step,
    }

    def file(**options: Any) -> Any:
        if options.get("save"):
            calls.append("save")
            return scene
        if options.get("sceneName"):
            return scene
        if options.get("modified"):
            return False
        raise AssertionError(f"unexpected cmds.file{options}")

    cmds.file = file  # type: ignore[attr-defined]
    cmds.getAttr = attributes.__getitem__  # type: ignore[attr-defined]
    cmds.workspace = lambda **options: "/proj/maya/"  # type: ignore[attr-defined]
    cmds.confirmDialog = lambda **options: calls.append(options["message"])  # type: ignore[attr-defined]
    maya.cmds = cmds  # type: ignore[attr-defined]
    cmds.calls = calls  # type: ignore[attr-defined]
    return maya


def test_maya_snippet(farm: Farm, env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    maya = fake_maya("/proj/maya/scenes/shot010.mb", 1.0, 20.0, 2.0)
    snippet = load("maya_submit", monkeypatch, maya=maya, **{"maya.cmds": maya.cmds})
    created = snippet.submit(["maya"], chunk_size=5, title="maya shot010")
    assert maya.cmds.calls == []  # not modified: not saved
    job = farm.job(created["id"])
    assert (job["template"], job["title"]) == ("maya", "maya shot010")
    assert (job["start"], job["end"], job["by"], job["batch"]) == (1.0, 20.0, 2.0, 5)
    assert job["pools"] == ["maya"] and job["chunks"]["total"] == 2  # 10 frames, 5 a chunk
    assert job["data"]["job_file"] == "/proj/maya/scenes/shot010.mb"
    assert job["data"]["job_project"] == "/proj/maya/"

    snippet.main()  # the shelf entry with its defaults
    assert maya.cmds.calls[-1].startswith("Job "), maya.cmds.calls


def fake_hou(hip: str, first: float, last: float, selected: list[FakeNode]) -> types.ModuleType:
    hou = types.ModuleType("hou")
    calls: list[str] = []
    hou.hipFile = types.SimpleNamespace(  # type: ignore[attr-defined]
        path=lambda: hip, hasUnsavedChanges=lambda: True, save=lambda: calls.append("save")
    )
    hou.playbar = types.SimpleNamespace(frameRange=lambda: (first, last))  # type: ignore[attr-defined]
    hou.selectedNodes = lambda: selected  # type: ignore[attr-defined]
    hou.ui = types.SimpleNamespace(  # type: ignore[attr-defined]
        displayMessage=lambda text, title="": calls.append(text)
    )
    hou.calls = calls  # type: ignore[attr-defined]
    return hou


def test_houdini_snippet(farm: Farm, env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    rop = FakeNode("karma1", "/out/karma1", "Driver")
    hou = fake_hou("/proj/fx/shot010.hip", 1.0, 48.0, [FakeNode("geo", "/obj/geo", "Object"), rop])
    snippet = load("houdini_submit", monkeypatch, hou=hou)
    created = snippet.submit(["fx"], chunk_size=12, priority=90, title="houdini shot010")
    assert hou.calls == ["save"]
    job = farm.job(created["id"])
    assert (job["template"], job["priority"], job["pools"]) == ("houdini", 90, ["fx"])
    assert (job["start"], job["end"], job["batch"], job["chunks"]["total"]) == (1.0, 48.0, 12, 4)
    assert job["data"] == {**job["data"], "job_file": "/proj/fx/shot010.hip",
                           "render_node": "/out/karma1"}  # fmt: skip


def test_snippet_reports_the_dispatchers_refusal(
    farm: Farm, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CORRAL_DISPATCHER", farm.url)
    monkeypatch.setenv("CORRAL_TOKEN", "not-a-token")
    hou = fake_hou("/proj/fx/shot020.hip", 1.0, 2.0, [])
    snippet = load("houdini_submit", monkeypatch, hou=hou)
    with pytest.raises(corral_client.ClientError) as caught:
        snippet.submit(title="houdini refused")
    assert caught.value.status == 401
    snippet.main()
    assert hou.calls[-1].startswith("The job was not submitted"), hou.calls
    titles = [job["title"] for job in farm.request("GET", "/api/v1/jobs/")]
    assert "houdini refused" not in titles
