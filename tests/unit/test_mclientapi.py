"""MClientAPI without a dispatcher: it imports with the standard library alone and parses
as Python 3.7; its constants are MTemplateAPI's and the hook API's; MJob's setters check
types at once and ActionSendJob refuses wrong values before sending anything."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import MClientAPI
from hooks.api import objects, template
from tests.unit.py37_source import problems_of as py37_problems

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "MClientAPI.py"
EXAMPLE = ROOT / "examples" / "console" / "mclient_submit.py"


def problems_of(text: str) -> list[str]:
    """What would fail on Python 3.7 or needs more than the standard library."""
    return py37_problems(text, "MClientAPI.py", ("corral_client", "MClientAPI"))


def test_source_is_python_37_and_standard_library_only() -> None:
    assert problems_of(SOURCE.read_text()) == []
    assert problems_of(EXAMPLE.read_text()) == []
    # The check is not a no-op.
    assert problems_of("import hooks.api.template\nx: list[int] = []\n")
    with pytest.raises(SyntaxError):
        problems_of("if (n := 1):\n    pass\n")


def test_imports_with_only_the_compat_folder_on_the_path() -> None:
    # -I: no user site, no PYTHON* variables; -S: no site-packages. Only compat/ is there.
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import MClientAPI, json; "
        "mods = sorted(m.split('.')[0] for m in sys.modules "
        "if m.split('.')[0] not in sys.stdlib_module_names); "
        "print(json.dumps([mods, MClientAPI.GetPlatform(), MClientAPI.__file__]))"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, str(ROOT / "compat")],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    modules, platform, path = json.loads(out.stdout)
    assert set(modules) - {"__main__"} == {"MClientAPI", "corral_client"}
    assert platform == template.current_platform()
    assert Path(path).parent == ROOT / "compat"


def test_constants_are_the_hook_apis() -> None:
    assert (MClientAPI.kPlatformWindows, MClientAPI.kPlatformMac, MClientAPI.kPlatformLinux) == (
        template.kPlatformWindows, template.kPlatformMac, template.kPlatformLinux
    )  # fmt: skip
    assert MClientAPI.GetPlatform() == template.current_platform()
    if sys.platform.startswith("linux"):
        assert MClientAPI.GetPlatform() == MClientAPI.kPlatformLinux
    for name in ("kTemplateMultiframe", "kTemplateImageSlicing", "kTemplateBroadcast",
                 "kTemplateTargetHost"):  # fmt: skip
        assert getattr(MClientAPI, name) == getattr(template, name), name
    for name in ("kJobDependSuccess", "kJobDependFailure", "kJobDependAlways", "kJobTypeJob",
                 "kJobTypeFolder", "kSkipNone", "kSkipWarnings", "kSkipErrors", "kSkipAll"):  # fmt: skip
        assert getattr(MClientAPI.MJob, name) == getattr(objects.MJob, name), name
    for name in ("kChunkQueued", "kChunkRunning", "kChunkDone", "kChunkFailed", "kChunkSkipped"):
        assert getattr(MClientAPI.MChunk, name) == getattr(objects.MChunk, name), name


def built_job() -> MClientAPI.MJob:
    job = MClientAPI.MJob()
    job.setName("shot010 lighting")
    job.setTemplateID(3)
    job.setParentId(-1)
    job.setDependMode(MClientAPI.MJob.kJobDependSuccess)
    job.setJobType(MClientAPI.MJob.kJobTypeJob)
    job.setPriority(65535)
    job.setIncludedPools("common, gpu")
    job.setExcludedPools("slow")
    job.setPacketSize(4)
    job.setPacketType(MClientAPI.kTemplateMultiframe)
    job.setMaximumNodes(3)
    job.setProject("proj")
    job.setDepartment("lighting")
    job.setLogsErrorCheckType(MClientAPI.MJob.kSkipWarnings)
    job.setDepends("12,13")
    job.attributeSetString("job_file", "/proj/render.py", subst=True)
    job.attributeSetFloat("start_frame", 1)
    job.attributeSetFloat("end_frame", 10.0)
    job.attributeSetInt("MAYADIGITS", 4)
    return job


def test_mjob_setters_getters_and_wire_form() -> None:
    job = built_job()
    assert (job.getName(), job.getTemplateID(), job.getParentId(), job.getPriority()) == (
        "shot010 lighting", 3, -1, 65535,
    )  # fmt: skip
    assert (job.getIncludedPools(), job.getExcludedPools(), job.getPacketSize()) == (
        "common, gpu", "slow", 4,
    )  # fmt: skip
    assert (job.getMaximumNodes(), job.getProject(), job.getDepartment()) == (3, "proj", "lighting")
    assert (job.getDepends(), job.getDependMode(), job.getJobType()) == ("12,13", 0, 0)
    assert job.getLogsErrorCheckType() == MClientAPI.MJob.kSkipWarnings
    assert job.getPacketType() == MClientAPI.kTemplateMultiframe
    assert job.attributeGetString("job_file") == "/proj/render.py"
    assert job.attributeGetFloat("end_frame") == 10.0 and job.attributeGetInt("MAYADIGITS") == 4
    assert job.attributeGetString("missing") == "" and job.attributeGetFloat("missing") == 0.0
    assert job.getJobId() == -1
    wire = job.toDict()
    assert wire["includedPools"] == ["common", "gpu"] and wire["dependIds"] == ["12", "13"]
    assert wire["templateId"] == 3 and wire["packetSize"] == 4 and wire["jobId"] == -1
    assert wire["attributes"]["job_file"] == {"value": "/proj/render.py", "state": True,
                                              "subst": True}  # fmt: skip
    assert wire["attributes"]["logs_error_check"]["value"] == 1
    assert wire["attributes"]["start_frame"]["value"] == 1.0
    job.attributeRemove("MAYADIGITS")
    assert "MAYADIGITS" not in job.attributeNames()
    fresh = MClientAPI.MJob()
    fresh.setName("no priority")
    fresh.setTemplateID("python")
    assert "priority" not in fresh.toDict() and fresh.getPriority() == -1


def test_setters_refuse_wrong_types_at_once() -> None:
    job = MClientAPI.MJob()
    for call, value in ((job.setPriority, "high"), (job.setPriority, True),
                        (job.setPacketSize, 2.5), (job.setName, 12),
                        (job.setIncludedPools, ["a"]), (job.setTemplateID, None),
                        (job.setDepends, [12])):  # fmt: skip
        with pytest.raises(TypeError):
            call(value)  # type: ignore[operator]
    with pytest.raises(TypeError):
        job.attributeSetFloat("start_frame", "1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        job.attributeSetString("job_file", 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        job.attributeSetInt("n", 1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "names"),
    [
        (lambda job: job.setName(""), "setName"),
        (lambda job: job.setName("x" * 256), "setName"),
        (lambda job: job.setName("two\nlines"), "setName"),
        (lambda job: job.setPriority(70000), "setPriority"),
        (lambda job: job.setPriority(-1), "setPriority"),
        (lambda job: job.setPacketSize(0), "setPacketSize"),
        (lambda job: job.setMaximumNodes(-2), "setMaximumNodes"),
        (lambda job: job.setDependMode(7), "setDependMode"),
        (lambda job: job.setJobType(5), "setJobType"),
        (lambda job: job.setLogsErrorCheckType(9), "setLogsErrorCheckType"),
        (lambda job: job.setDepends("12,twelve"), "setDepends"),
        (lambda job: job.setDepends("-3"), "setDepends"),
        (lambda job: job.setTemplateID(-5), "setTemplateID"),
        (lambda job: job.setTemplateID(" "), "setTemplateID"),
        (lambda job: job.attributeSetString("big", "x" * (1024 * 1024 + 1)), "'big'"),
        (lambda job: job.attributeSetString("", "x"), "attribute ''"),
        (lambda job: job.attributeSetFloat("nan", float("nan")), "'nan'"),
        (lambda job: job.attributeSetString("muster", "x"), "'muster'"),
    ],
)
def test_wrong_values_are_refused_before_sending(change: object, names: str) -> None:
    job = built_job()
    change(job)  # type: ignore[operator]
    session = MClientAPI.InitializeSession()  # not connected: a send would say so instead
    err = MClientAPI.ActionSendJob(session, job)
    assert err.getErrorCode() == MClientAPI.kErrorInvalidArgument, err
    assert names in err.getDescription() and "nothing was sent" in err.getDescription()
    assert job.getJobId() == -1
    with pytest.raises(ValueError):
        job.toDict()


def test_too_many_attributes_are_refused() -> None:
    job = built_job()
    for number in range(MClientAPI.MAX_ATTRIBUTES):
        job.attributeSetInt(f"a{number}", number)
    err = MClientAPI.ActionSendJob(MClientAPI.InitializeSession(), job)
    assert err.getErrorCode() == MClientAPI.kErrorInvalidArgument
    assert "at most 1000" in err.getDescription()


def test_a_folder_needs_no_template() -> None:
    folder = MClientAPI.MJob()
    folder.setName("shot010")
    folder.setJobType(MClientAPI.MJob.kJobTypeFolder)
    assert folder.toDict() == {
        "jobName": "shot010", "jobType": 1, "jobId": -1, "parentId": -1, "project": "",
        "department": "",
    }  # fmt: skip


def test_session_lifecycle_errors_without_a_dispatcher() -> None:
    assert MClientAPI.InitializeLibrary("").getErrorCode() == 0
    assert MClientAPI.InitializeLibrary(3).getErrorCode() == MClientAPI.kErrorInvalidArgument  # type: ignore[arg-type]
    session = MClientAPI.InitializeSession()
    assert not session.isConnected() and not session.isAuthenticated()
    assert MClientAPI.Disconnect(session).getErrorCode() == MClientAPI.kErrorNotConnected
    assert MClientAPI.ActionSendJob(session, built_job()).getErrorCode() == (
        MClientAPI.kErrorNotConnected
    )
    err, jobs = MClientAPI.ActionGetJobs(session)
    assert (err.getErrorCode(), jobs) == (MClientAPI.kErrorNotConnected, [])
    assert MClientAPI.Authenticate(session, "td", "pw").getErrorCode() == (
        MClientAPI.kErrorNotConnected
    )
    for host, port in (("", 9781), ("farm", 0), ("farm", 70000), ("farm", "9781"),
                       ("farm/path", 9781), ("ftp://farm", 9781), (None, 9781)):  # fmt: skip
        err = MClientAPI.Connect(session, host, port)  # type: ignore[arg-type]
        assert err.getErrorCode() == MClientAPI.kErrorInvalidArgument, (host, port)
    assert MClientAPI.Connect("session", "farm", 9781).getErrorCode() == (  # type: ignore[arg-type]
        MClientAPI.kErrorInvalidArgument
    )
    for call in (MClientAPI.ActionGetChunks, MClientAPI.ActionPauseJob):
        result = call(session, 0)
        err = result[0] if isinstance(result, tuple) else result
        assert err.getErrorCode() == MClientAPI.kErrorInvalidArgument
    err, text = MClientAPI.ActionGetChunkLog(session, 1, -1)
    assert (err.getErrorCode(), text) == (MClientAPI.kErrorInvalidArgument, "")
    with pytest.raises(ValueError):
        session.setTimeout(0)
    session.setTimeout(2.5)
    assert session.getTimeout() == 2.5


def test_error_object() -> None:
    err = MClientAPI.MError(401, "wrong password")
    assert (err.getErrorCode(), err.getDescription()) == (401, "wrong password")
    assert "401" in repr(err)
    ok = MClientAPI.MError()
    assert (ok.getErrorCode(), ok.getDescription()) == (0, "")


def test_queried_objects_read_the_listing_keys() -> None:
    job = MClientAPI.MJob.fromDict({
        "jobId": 12, "jobName": "shot", "jobType": "job", "templateId": 3,
        "templateKey": "python", "owner": "td", "status": "running", "progress": 50.0,
        "priority": 10, "paused": False, "packetSize": 2, "includedPools": ["a", "b"],
        "excludedPools": [], "maximumInstances": 0, "parentId": 4, "dependIds": ["9"],
        "dependMode": 2, "dependLinkMode": 1, "project": "p", "department": "d",
        "framesRange": "1-8", "byFrame": 2, "chunks": {"total": 4, "done": 2},
        "attributes": {"job_file": {"value": "/x.py", "state": True, "subst": True},
                       "muster": {"value": {"packetType": 1}, "state": True, "subst": False}},
    })  # fmt: skip
    assert (job.getJobId(), job.getName(), job.getTemplateID(), job.getTemplateKey()) == (
        12, "shot", 3, "python",
    )  # fmt: skip
    assert (job.getOwner(), job.getStatus(), job.getProgress(), job.isPaused()) == (
        "td", "running", 50.0, False,
    )  # fmt: skip
    assert (job.getIncludedPools(), job.getDepends(), job.getDependMode()) == ("a,b", "9", 2)
    assert (job.getDependLinkMode(), job.getParentId(), job.getPacketType()) == (1, 4, 1)
    assert job.attributeGetFloat("start_frame") == 1.0 and job.attributeGetFloat("by_frame") == 2
    assert job.attributeGetString("job_file") == "/x.py" and job.getChunksCount()["done"] == 2
    assert "muster" not in job.attributeNames()
    chunk = MClientAPI.MChunk({"jobId": 12, "chunkId": 1, "status": "failed", "startFrame": 3,
                               "endFrame": 4, "node": "r1", "nodeId": 2, "attempts": 2,
                               "exitCode": 1, "error": "boom"})  # fmt: skip
    assert chunk.getStatus() == MClientAPI.MChunk.kChunkFailed
    assert (chunk.getStartFrame(), chunk.getEndFrame(), chunk.getNodeName()) == (3.0, 4.0, "r1")
    assert (chunk.getExitCode(), chunk.getError(), chunk.getAttempts()) == (1, "boom", 2)
    node = MClientAPI.MNode({"nodeId": 1, "name": "r1", "status": "busy", "online": True,
                             "pools": ["a"], "running": [{"jobId": 12, "chunkId": 1}]})  # fmt: skip
    assert node.getStatus() == MClientAPI.MNode.kNodeStatusBusy and node.isOnline()
    assert node.getRunningChunks() == [(12, 1)] and node.getPools() == "a"
    info = MClientAPI.MTemplateInfo({"id": 3, "name": "Python script", "key": "python"})
    assert (info.getID(), info.getName(), info.getKey()) == (3, "Python script", "python")


@pytest.mark.parametrize("version", ["3.7", "3.8"])
def test_runs_on_old_pythons_when_installed(version: str) -> None:
    python = shutil.which(f"python{version}")
    usable = python is not None and subprocess.run(
        [python, "-c", "pass"], capture_output=True, timeout=60
    ).returncode == 0  # fmt: skip
    if not usable:
        pytest.skip(f"no working python{version} here")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import MClientAPI; "
        "job = MClientAPI.MJob(); job.setName('x'); job.setTemplateID(3); "
        "job.attributeSetFloat('start_frame', 1); "
        "print(sys.version_info[:2] == tuple(map(int, sys.argv[2].split('.'))), "
        "job.toDict()['attributes']['start_frame']['value'])"
    )
    out = subprocess.run(
        [str(python), "-I", "-S", "-c", code, str(ROOT / "compat"), version],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert out.stdout.split() == ["True", "1.0"]
