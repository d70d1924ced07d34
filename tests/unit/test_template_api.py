"""MTemplateAPI classes, MJob/MChunk objects, the running context."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

import MTemplateAPI
import muster
from hooks.api.context import running_context, set_context
from hooks.api.objects import MChunk, MJob, MStringRef
from hooks.api.template import MManager, MTemplate, MTemplateError, default_key


class Katana(MTemplate):
    def __init__(self, template_id: int = 962, name: str = "Katana2.5v5") -> None:
        MTemplate.__init__(self)
        self.setID(template_id)
        self.setName(name)
        self.addMapping("KATSTARTFRAME", "start_frame")
        self.addMapping("KATFILENAME", "job_file")


@pytest.fixture
def manager() -> Iterator[MManager]:
    fresh = MManager()
    with MManager.use(fresh):
        yield fresh


@pytest.fixture
def context() -> Iterator[None]:
    yield
    set_context("")


def test_manager_is_a_process_wide_singleton() -> None:
    assert MManager.getUniqueClass() is MManager.getUniqueClass()
    assert MTemplateAPI.MManager.getUniqueClass() is MManager.getUniqueClass()


def test_use_swaps_the_unique_manager_for_a_block() -> None:
    outer = MManager.getUniqueClass()
    fresh = MManager()
    with MManager.use(fresh):
        assert MManager.getUniqueClass() is fresh
    assert MManager.getUniqueClass() is outer


def test_install_and_find_by_key_and_id(manager: MManager) -> None:
    template = Katana()
    MManager.getUniqueClass().installPyTemplate(template)
    assert manager.get_template("katana2_5v5") is template
    assert manager.get_template(962) is template
    assert manager.get_template("962") is template
    assert manager.get_template("nope") is None
    assert manager.list_templates() == [template]
    manager.clear()
    assert manager.list_templates() == []


def test_install_replaces_same_id_or_key(manager: MManager) -> None:
    first = Katana(962, "Katana")
    same_key = Katana(963, "Katana")
    manager.installPyTemplate(first)
    manager.installPyTemplate(same_key)
    assert manager.list_templates() == [same_key]
    same_id = Katana(963, "Other")
    manager.installPyTemplate(same_id)
    assert manager.list_templates() == [same_id]


def test_install_refuses_non_templates_and_missing_ids(manager: MManager) -> None:
    with pytest.raises(TypeError):
        manager.installPyTemplate(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="setID"):
        manager.installPyTemplate(MTemplate())


def test_resolve_mapping_to_job(manager: MManager) -> None:
    manager.installPyTemplate(Katana())
    assert manager.resolveMappingToJob(962, "KATFILENAME") == "job_file"
    assert manager.resolveMappingToJob(962, "KATSTARTFRAME") == "start_frame"
    # An unmapped field is stored under its own name.
    assert manager.resolveMappingToJob(962, "KATNODE") == "KATNODE"
    assert manager.resolveMappingToJob(1234, "KATFILENAME") == ""


def test_template_setters_and_defaults() -> None:
    template = Katana()
    template.setDescription("Katana render")
    template.setTemplateLogic(MTemplateAPI.kTemplateMultiframe)
    template.setDefaultPriority(1)
    template.setDefaultPools("common")
    template.setDefaultExcludedPools("slow")
    template.setMaximumLicenses(4)
    template.setLicensesGroup("Katana-licensing")
    template.setDelayGroup("Katana")
    template.setDelay(3)
    assert template.getKey() == "katana2_5v5"
    template.setKey("katana")
    assert template.getKey() == "katana"
    assert template.getDescription() == "Katana render"
    assert template.getTemplateLogic() == MTemplateAPI.kTemplateMultiframe
    assert (template.getDefaultPriority(), template.getDefaultPools()) == (1, "common")
    assert template.getDefaultExcludedPools() == "slow"
    assert (template.getMaximumLicenses(), template.getLicensesGroup()) == (4, "Katana-licensing")
    assert (template.getDelayGroup(), template.getDelay()) == ("Katana", 3)
    assert template.getMappings()["KATFILENAME"] == "job_file"
    assert default_key("Maya (Arnold) 2025") == "maya__arnold__2025"


def test_platforms_and_items() -> None:
    template = Katana()
    linux = template.platformLinux
    linux.setPlatformEnabled(1)
    linux.setEnableErrorCheck(0)
    linux.setEnabledByDefault(1)
    linux.setFramesFloating(0)
    linux.setDetectionLogic(MTemplateAPI.kProcessDirect)
    folder = MTemplateAPI.MTemplateItemFolder(
        "KATHOME", "Katana root", "desc", "/opt/katana", 0, 0, 1
    )
    linux.addClientConfigurationItem(folder)
    assert linux.getPlatformEnabled() and linux.getEnabledByDefault()
    assert not linux.getEnableErrorCheck() and not linux.getFramesFloating()
    assert linux.getDetectionLogic() == MTemplateAPI.kProcessDirect
    assert linux.getClientConfigurationItems() == [folder]
    assert not template.platformWindows.getPlatformEnabled()
    assert not template.platformMac.getPlatformEnabled()

    scene = MTemplateAPI.MTemplateItemFile("KATFILENAME", "Scene", "desc", "", 0, 1, 1, "*.katana")
    start = MTemplateAPI.MTemplateItemInteger("KATSTARTFRAME", "Start", "desc", 1, 0, 0, 1)
    node = MTemplateAPI.MTemplateItemString("KATNODE", "Node", "desc", "", 0, 0, 1)
    scale = MTemplateAPI.MTemplateItemDouble("SCALE", "Scale", "desc", 0.5, 0, 0, 1)
    denoise = MTemplateAPI.MTemplateItemBoolean("DENOISE", "Denoise", "desc", True, 0, 0, 1)
    mode = MTemplateAPI.MTemplateItemCombo("MODE", "Mode", "desc", "fast", "fast, slow", 0, 0, 1)
    for item in (scene, start, node, scale, denoise, mode):
        template.addSubmissionItem(item)
    assert template.getSubmissionItems()[0] is scene
    assert scene.getFilter() == "*.katana" and scene.isRequired()
    assert (start.getName(), start.getLabel(), start.getDefaultValue()) == (
        "KATSTARTFRAME",
        "Start",
        1,
    )
    assert start.getFlags() == (0, 0, 1) and start.getType() == "integer"
    assert node.getDescription() == "desc"
    assert scale.getDefaultValue() == 0.5 and denoise.getDefaultValue() is True
    assert mode.getOptions() == ["fast", "slow"]
    assert template.to_dict()["items"][5]["options"] == ["fast", "slow"]


def test_template_error() -> None:
    ok = MTemplateError()
    assert (ok.getErrorCode(), ok.getDescription()) == (0, "")
    error = MTemplateAPI.MTemplateError(
        3, "license lost", MTemplateAPI.MTemplateError.kTemplateErrorTypeWarning
    )
    error.addErrorAction(MTemplateAPI.MTemplateError.kTemplateErrorAbortRender)
    assert error.getErrorCode() == 3
    assert error.getType() == MTemplateAPI.kTemplateErrorTypeWarning
    assert error.getErrorActions() == [MTemplateAPI.kTemplateErrorAbortRender]


def test_default_hooks() -> None:
    template = Katana()
    job, chunk = MJob(), MChunk(1, 0, "1", "10")
    assert template.onCheckExitCode(job, chunk, {}, 0).getErrorCode() == 0
    failed = template.onCheckExitCode(job, chunk, {}, 2)
    assert failed.getErrorCode() != 0 and "2" in failed.getDescription()
    assert template.onCheckLog(job, chunk, {}, "anything").getErrorCode() == 0
    assert template.onBuildCommandLine(MTemplateAPI.kPlatformLinux, job, chunk, {}, 0) == ""
    env = MTemplateAPI.MEnvironment({"A": "1"})
    assert template.onBuildEnvironment(job, chunk, {}, env) is env
    path = MStringRef()
    assert template.onGetApplicationPath(job, {}, path).getErrorCode() == 0
    assert path.getString() == ""
    assert not template.overrides("onBuildCommandLine")


def test_environment_object() -> None:
    env = MTemplateAPI.MEnvironment({"A": "1"})
    env.setValue("B", 2)  # type: ignore[arg-type]
    assert env.getValue("B") == "2" and env.getValue("missing") == ""
    assert env.items() == [("A", "1"), ("B", "2")]


def test_mjob_getters_and_setters() -> None:
    job = MJob({"id": 7, "title": "shot", "user": "ana", "state": "running", "by": "2"})
    assert (job.getJobId(), job.getName(), job.getOwner()) == (7, "shot", "ana")
    assert job.getStatus() == "running"
    job.setName("shot 2")
    job.setParentId(0)
    job.setPriority(900)
    job.setIncludedPools("common, gpu")
    job.setExcludedPools("slow")
    job.setPacketSize(4)
    job.setMaximumNodes(3)
    job.setProject("film")
    job.setDepartment("lighting")
    job.setDepends("12, 13")
    job.setTemplateID(962)
    job.attributeSetString("job_file", "/show/a.katana")
    job.attributeSetFloat("start_frame", 1001)
    job.attributeSetInt("samples", 64)
    assert job.getParentId() == -1 and job.getPriority() == 900
    assert job.getIncludedPools() == "common,gpu" and job.getExcludedPools() == "slow"
    assert (job.getPacketSize(), job.getMaximumNodes()) == (4, 3)
    assert (job.getProject(), job.getDepartment()) == ("film", "lighting")
    assert job.getDepends() == "12,13" and job.getTemplateID() == 962
    assert job.attributeGetString("job_file") == "/show/a.katana"
    assert job.attributeGetFloat("start_frame") == 1001.0
    assert job.attributeGetFloat("by_frame") == 2.0
    assert job.attributeGetInt("samples") == 64 and job.attributeGetInt("missing") == 0
    data = job.to_dict()
    assert data["title"] == "shot 2" and data["pools"] == ["common", "gpu"]
    assert data["start"] == "1001" and data["batch"] == 4
    assert data["depends_on"] == [
        {"job": 12, "mode": "success"},
        {"job": 13, "mode": "success"},
    ]
    assert data["data"] == {"job_file": "/show/a.katana", "samples": 64}
    with pytest.raises(ValueError):
        job.setPacketSize(0)


def test_mjob_copies_its_input_and_output() -> None:
    source = {"id": 1, "command": ["echo"], "data": {}}
    job = MJob(source)
    job.attributeSetString("k", "v")
    job.to_dict()["command"].append("changed")
    assert source == {"id": 1, "command": ["echo"], "data": {}}
    assert job.to_dict()["command"] == ["echo"]
    assert MJob().getJobId() == -1 and MJob().getParentId() == -1


def test_mjob_template_id_resolves_keys(manager: MManager) -> None:
    manager.installPyTemplate(Katana())
    assert MJob({"template": "katana2_5v5"}).getTemplateID() == 962
    assert MJob({"template": "missing"}).getTemplateID() == -1


def test_mchunk() -> None:
    chunk = MChunk(4, 2, Decimal("-3"), "12.5", attempt=1)
    assert (chunk.getJobId(), chunk.getChunkId(), chunk.getAttempt()) == (4, 2, 1)
    assert (chunk.getStartFrame(), chunk.getEndFrame()) == (-3.0, 12.5)
    ref = MTemplateAPI.MStringRef("a")
    ref.setString("b")
    assert ref.getString() == "b"


def test_running_context(context: None) -> None:
    assert muster.runningContext() == ""
    set_context("renderclient")
    assert muster.runningContext() == "renderclient" == running_context()
    with pytest.raises(ValueError):
        set_context("somewhere")


@pytest.mark.parametrize("name", ["", "renderclient"])
def test_seed_context_snippet_imports(name: str, context: None) -> None:
    set_context(name)
    snippet = (
        "import muster\n"
        'if (muster.runningContext() == "console"): import MConsoleAPI\n'
        'elif (muster.runningContext() == "dispatcher"): import MDispatcherAPI\n'
        'elif (muster.runningContext() == "renderclient"): import MInstanceAPI\n'
    )
    exec(compile(snippet, "<seed snippet>", "exec"), {})
