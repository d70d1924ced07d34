"""Client configuration and the render-client context: the merge rule, value checks,
the node's own layer, the preferences every callback gets, MInstanceAPI, MClientAPI's
platform functions, and template callbacks under a time limit."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import MClientAPI
import MInstanceAPI
import muster
from dispatcher.errors import TemplateError
from hooks.api import instance
from hooks.api.context import running_context, set_context
from hooks.api.errors import kErrBadArgument, kErrNotFound, kErrWrongContext
from hooks.api.objects import MChunk, MJob, MStringRef
from hooks.api.preferences import coerce, declared_items, dispatcher_layer, merge
from hooks.api.template import (
    MEnvironment,
    MTemplate,
    MTemplateError,
    MTemplateItemBoolean,
    MTemplateItemCombo,
    MTemplateItemDouble,
    MTemplateItemFile,
    MTemplateItemInteger,
    current_platform,
)
from renderclient.hookcalls import failure_text, run_limited
from renderclient.invocation import build_invocations, check_result
from renderclient.template_config import (
    NodeTemplateConfig,
    TemplateConfigError,
    parse_option,
    parse_options,
)


class Configured(MTemplate):
    """A template with client configuration items that records what each callback got."""

    def __init__(self) -> None:
        MTemplate.__init__(self)
        self.setID(70)
        self.setKey("configured")
        self.seen: dict[str, dict[str, Any]] = {}
        for platform in self.platforms():
            platform.addClientConfigurationItem(
                MTemplateItemFile("APP", "Application", "", "/usr/bin/default-app", 0, 0, 1, "*")
            )
            platform.addClientConfigurationItem(
                MTemplateItemInteger("THREADS", "Threads", "", 4, 0, 0, 1)
            )
        self.platformLinux.addClientConfigurationItem(
            MTemplateItemBoolean("GPU", "Use the GPU", "", False, 0, 0, 1)
        )

    def onGetApplicationPath(self, job: MJob, prefs: dict[str, Any], pathOut: MStringRef) -> Any:
        self.seen["onGetApplicationPath"] = dict(prefs)
        pathOut.setString(prefs["APP"])
        return MTemplateError()

    def onBuildCommandLine(
        self, platform: int, job: MJob, chunk: MChunk, prefs: dict[str, Any], instanceNum: int
    ) -> str:
        self.seen["onBuildCommandLine"] = dict(prefs)
        return f"-t {prefs['THREADS']} -f {{start}}-{{end}}"

    def onBuildAdditionalParameters(
        self, platform: int, job: MJob, chunk: MChunk, prefs: dict[str, Any], instanceNum: int
    ) -> str:
        self.seen["onBuildAdditionalParameters"] = dict(prefs)
        return "--gpu" if prefs.get("GPU") else ""

    def onBuildEnvironment(
        self, job: MJob, chunk: MChunk, prefs: dict[str, Any], env: MEnvironment
    ) -> MEnvironment:
        self.seen["onBuildEnvironment"] = dict(prefs)
        env.setValue("THREADS", str(prefs["THREADS"]))
        return env

    def onGetApplicationStartingFolder(
        self, job: MJob, prefs: dict[str, Any], pathOut: MStringRef
    ) -> Any:
        self.seen["onGetApplicationStartingFolder"] = dict(prefs)
        return MTemplateError()

    def onCheckExitCode(self, job: MJob, chunk: MChunk, prefs: dict[str, Any], code: int) -> Any:
        self.seen["onCheckExitCode"] = dict(prefs)
        return MTemplateError()

    def onCheckLog(self, job: MJob, chunk: MChunk, prefs: dict[str, Any], log: str) -> Any:
        self.seen["onCheckLog"] = dict(prefs)
        return MTemplateError()


JOB = {"id": 3, "title": "t", "template": "configured", "start": "1", "end": "4", "by": "1",
       "batch": 2, "environ": {}}  # fmt: skip


# -- the merge rule ---------------------------------------------------------------
def test_node_values_win_over_pools_and_the_first_pool_over_later_ones() -> None:
    node = {"t": {"APP": "/node"}}
    pools = [{"t": {"APP": "/pool-a", "THREADS": 2}}, {"t": {"THREADS": 9, "GPU": True}}]
    assert dispatcher_layer(node, pools) == {"t": {"APP": "/node", "THREADS": 2, "GPU": True}}
    assert dispatcher_layer({}, []) == {}


def test_dispatcher_over_own_over_default() -> None:
    defaults = {"APP": "/default", "THREADS": 4, "GPU": False}
    assert merge(defaults) == defaults
    assert merge(defaults, {"APP": "/own", "THREADS": 8}, {"APP": "/dispatcher"}) == {
        "APP": "/dispatcher",
        "THREADS": 8,
        "GPU": False,
    }


def test_preferences_merge_every_layer_with_this_platforms_defaults() -> None:
    template = Configured()
    config = NodeTemplateConfig({"configured": {"THREADS": "8"}, "70": {"APP": "/by-id"}})
    prefs = config.preferences(template)
    assert prefs["APP"] == "/by-id" and prefs["THREADS"] == 8  # text from a command line, typed
    layer = {"configured": {"APP": "/dispatcher"}}
    assert config.preferences(template, layer) == {
        "APP": "/dispatcher",
        "THREADS": 8,
        "GPU": False,
    }
    # The key wins over the id; a value the item refuses falls back to the next layer.
    config = NodeTemplateConfig(
        {"configured": {"APP": "/by-key", "THREADS": "many"}, "70": {"APP": "/id"}}
    )
    assert config.preferences(template) == {"APP": "/by-key", "THREADS": 4, "GPU": False}
    assert NodeTemplateConfig().preferences(template) == {
        "APP": "/usr/bin/default-app",
        "THREADS": 4,
        "GPU": False,
    }


def test_the_nodes_own_values_are_checked_against_the_templates() -> None:
    config = NodeTemplateConfig({"configured": {"NOPE": "1", "THREADS": "x"}, "other": {"A": "1"}})
    problems = config.check([Configured()])
    assert any("NOPE" in problem for problem in problems)
    assert any("THREADS" in problem for problem in problems)
    assert any("'other' is not installed" in problem for problem in problems)
    assert NodeTemplateConfig({"configured": {"THREADS": "3"}}).check([Configured()]) == []


# -- values -------------------------------------------------------------------
def test_values_are_checked_against_the_items_type() -> None:
    integer = MTemplateItemInteger("N", "n", "", 1).to_dict()
    assert coerce(integer, 5) == 5 and coerce(integer, " -7 ") == -7
    for bad in ("5.5", True, 1.5, "x"):
        with pytest.raises(ValueError):
            coerce(integer, bad)
    double = MTemplateItemDouble("D", "d", "", 1.0).to_dict()
    assert coerce(double, "2.5") == 2.5 and coerce(double, 3) == 3.0
    with pytest.raises(ValueError):
        coerce(double, "nan")
    boolean = MTemplateItemBoolean("B", "b", "", False).to_dict()
    assert coerce(boolean, "yes") is True and coerce(boolean, "0") is False
    with pytest.raises(ValueError):
        coerce(boolean, "maybe")
    combo = MTemplateItemCombo("C", "c", "", "fast", ["fast", "slow"]).to_dict()
    assert coerce(combo, "slow") == "slow"
    with pytest.raises(ValueError, match="fast, slow"):
        coerce(combo, "medium")
    text = MTemplateItemFile("F", "f", "", "").to_dict()
    assert coerce(text, "/a b") == "/a b"
    for bad in (3, "x" * 5000):
        with pytest.raises(ValueError):
            coerce(text, bad)


def test_the_template_description_lists_items_per_platform() -> None:
    info = Configured().to_dict()
    assert [item["name"] for item in info["client_configuration"]["linux"]] == [
        "APP",
        "THREADS",
        "GPU",
    ]
    assert set(declared_items(info, "windows")) == {"APP", "THREADS"}
    assert set(declared_items(info)) == {"APP", "THREADS", "GPU"}


def test_template_config_options() -> None:
    assert parse_option("katana:KATAPP=/opt/k=1") == ("katana", "KATAPP", "/opt/k=1")
    assert parse_options(["a:X=1", "a:X=2", "b:Y="]) == {"a": {"X": "2"}, "b": {"Y": ""}}
    for bad in ("katana", "katana:KATAPP", ":K=1", "katana:=1"):
        with pytest.raises(TemplateConfigError):
            parse_option(bad)


# -- callbacks get the preferences ----------------------------------------------------
def test_every_callback_gets_the_same_preferences() -> None:
    template = Configured()
    prefs = NodeTemplateConfig({"configured": {"GPU": "on"}}).preferences(
        template, {"configured": {"APP": "/opt/app", "THREADS": 16}}
    )
    invocation = build_invocations(template, JOB, "1", "2", 0, prefs, base_env={})
    assert invocation.argvs == [["/opt/app", "-t", "16", "-f", "1-2", "--gpu"]]
    assert invocation.env["THREADS"] == "16"
    assert check_result(template, JOB, "1", "2", 0, "", prefs) == (True, "")
    expected = {"APP": "/opt/app", "THREADS": 16, "GPU": True}
    assert template.seen == dict.fromkeys(
        [
            "onGetApplicationPath", "onBuildCommandLine", "onBuildAdditionalParameters",
            "onBuildEnvironment", "onGetApplicationStartingFolder", "onCheckExitCode", "onCheckLog",
        ],
        expected,
    )  # fmt: skip


def test_a_raising_result_check_leaves_its_traceback() -> None:
    class Raising(Configured):
        def onCheckLog(self, job: MJob, chunk: MChunk, prefs: dict[str, Any], log: str) -> Any:
            raise KeyError("KATAPP")

    tracebacks: list[str] = []
    ok, reason = check_result(Raising(), JOB, "1", "2", 0, "", {}, tracebacks=tracebacks)
    assert not ok and "onCheckLog raised KeyError" in reason
    assert (
        len(tracebacks) == 1 and "Traceback" in tracebacks[0] and "raise KeyError" in tracebacks[0]
    )


# -- time limits --------------------------------------------------------------------------
def test_run_limited_returns_raises_and_gives_up() -> None:
    async def scenario() -> None:
        assert await run_limited(lambda: 42, timeout_s=5, what="answer") == 42

        def boom() -> None:
            raise ValueError("bad template")

        with pytest.raises(TemplateError) as raised:
            await run_limited(boom, timeout_s=5, what="boom")
        text = failure_text(raised.value)
        assert "boom raised ValueError: bad template" in text and "Traceback" in text

        with pytest.raises(TemplateError, match="SystemExit"):
            await run_limited(lambda: sys.exit(3), timeout_s=5, what="exits")

        release = threading.Event()
        started = time.monotonic()
        with pytest.raises(TemplateError, match="did not return within 0.2 s") as stuck:
            await run_limited(release.wait, timeout_s=0.2, what="hangs")
        assert "Stuck at" in failure_text(stuck.value) and "wait" in failure_text(stuck.value)
        assert time.monotonic() - started < 2
        release.set()
        # The loop is not blocked by a stuck callback: other work goes on.
        assert await run_limited(lambda: "still here", timeout_s=5, what="after") == "still here"

    asyncio.run(scenario())


# -- MInstanceAPI, MClientAPI, muster ---------------------------------------------
@pytest.fixture
def renderclient_context() -> Iterator[None]:
    previous = running_context()
    set_context("renderclient")
    try:
        yield
    finally:
        set_context(previous)
        instance.set_provider(None)


def test_instance_api_needs_the_render_client_context() -> None:
    previous = running_context()
    instance.set_provider(lambda: [instance.kInstanceStatusIdle])
    try:
        for where in ("", "dispatcher", "console"):
            set_context(where)
            err, count = MInstanceAPI.getRunningInstances()
            assert err.getErrorCode() == kErrWrongContext and count == 0, where
            assert MInstanceAPI.getInstanceStatus(0)[0].getErrorCode() == kErrWrongContext
    finally:
        set_context(previous)
        instance.set_provider(None)


def test_instance_api_reports_the_nodes_instances(renderclient_context: None) -> None:
    assert muster.runningContext() == "renderclient"
    err, _ = MInstanceAPI.getRunningInstances()
    assert err.getErrorCode() == kErrNotFound  # no render client in this process
    instance.set_provider(
        lambda: [MInstanceAPI.kInstanceStatusRendering, MInstanceAPI.kInstanceStatusIdle]
    )
    err, count = MInstanceAPI.getRunningInstances()
    assert (err.getErrorCode(), count) == (0, 2)
    assert MInstanceAPI.getInstanceStatus(0)[1] == MInstanceAPI.kInstanceStatusRendering
    assert MInstanceAPI.getInstanceStatus(1)[1] == MInstanceAPI.kInstanceStatusIdle
    assert MInstanceAPI.getInstanceStatus(2)[0].getErrorCode() == kErrNotFound
    assert MInstanceAPI.getInstanceStatus("0")[0].getErrorCode() == kErrBadArgument  # type: ignore[arg-type]


def test_client_api_platform() -> None:
    platform = MClientAPI.GetPlatform()
    assert platform == current_platform()
    assert (
        len({MClientAPI.kPlatformLinux, MClientAPI.kPlatformWindows, MClientAPI.kPlatformMac}) == 3
    )
    if sys.platform.startswith("linux"):
        assert platform == MClientAPI.kPlatformLinux
