"""build_invocations and check_result: templates turned into argument lists and verdicts."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from dispatcher.errors import TemplateError
from hooks.api.objects import MChunk, MJob, MStringRef
from hooks.api.template import MEnvironment, MTemplate, MTemplateError
from hooks.runtime import TemplateSet, bundled_templates_dir
from renderclient.invocation import build_invocations, check_result, template_job


@pytest.fixture(scope="module")
def bundled() -> TemplateSet:
    return TemplateSet.load([bundled_templates_dir()])


@pytest.fixture
def cmdline(bundled: TemplateSet) -> MTemplate:
    template = bundled.get("cmdline")
    assert template is not None
    return template


def job(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": 9,
        "title": "test",
        "template": "cmdline",
        "start": "1",
        "end": "10",
        "by": "1",
        "batch": 5,
        "environ": {},
        "data": {},
        "command": ["render", "--from", "{start}", "--to", "{end}"],
    }
    base.update(fields)
    return base


class Custom(MTemplate):
    """A template whose hooks the tests steer."""

    def __init__(self, command: str = "tool {start}", fail_with: Exception | None = None) -> None:
        MTemplate.__init__(self)
        self.setID(500)
        self.setKey("custom")
        self.command = command
        self.fail_with = fail_with
        self.seen_chunk: MChunk | None = None

    def onGetApplicationPath(
        self, job: MJob, clientTemplatePreferences: dict[str, Any], pathOut: MStringRef
    ) -> MTemplateError:
        pathOut.setString(clientTemplatePreferences.get("APP", ""))
        return MTemplateError()

    def onGetApplicationStartingFolder(
        self, job: MJob, clientTemplatePreferences: dict[str, Any], pathOut: MStringRef
    ) -> MTemplateError:
        pathOut.setString(clientTemplatePreferences.get("CWD", ""))
        return MTemplateError()

    def onBuildCommandLine(
        self,
        platform: int,
        job: MJob,
        chunk: MChunk,
        clientTemplatePreferences: dict[str, Any],
        instanceNum: int,
    ) -> str:
        self.seen_chunk = chunk
        if self.fail_with is not None:
            raise self.fail_with
        return self.command.replace("{instance}", str(instanceNum))

    def onBuildEnvironment(
        self,
        job: MJob,
        chunk: MChunk,
        clientTemplatePreferences: dict[str, Any],
        existingEnvironment: MEnvironment,
    ) -> MEnvironment:
        existingEnvironment.setValue("FROM_TEMPLATE", job.attributeGetString("scene"))
        existingEnvironment.setValue("OVERRIDDEN", "by template")
        return existingEnvironment

    def onCheckLog(
        self, job: MJob, chunk: MChunk, clientTemplatePreferences: dict[str, Any], log: str
    ) -> MTemplateError:
        if self.fail_with is not None:
            raise self.fail_with
        if "ERROR" in log:
            return MTemplateError(7, "the log reports an error")
        return MTemplateError()


def test_start_and_end_are_substituted(cmdline: MTemplate) -> None:
    invocation = build_invocations(cmdline, job(), "6", "10", 0)
    assert invocation.argvs == [["render", "--from", "6", "--to", "10"]]
    assert invocation.cwd is None


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("-3", "-1", ["-3", "-1"]),
        (Decimal("12.5"), Decimal("13.5000"), ["12.5", "13.5"]),
        ("-0", "1.0000", ["0", "1"]),
    ],
)
def test_negative_and_fractional_frames(
    cmdline: MTemplate, start: str | Decimal, end: str | Decimal, expected: list[str]
) -> None:
    spec = job(start="-10", end="20", command=["r", "{start}-{end}"])
    invocation = build_invocations(cmdline, spec, start, end, 0)
    assert invocation.argvs == [["r", f"{expected[0]}-{expected[1]}"]]


def test_frame_expands_to_one_process_per_frame(cmdline: MTemplate) -> None:
    spec = job(start="1", end="20", by="2", command=["r", "-f", "{frame}", "--chunk={start}:{end}"])
    invocation = build_invocations(cmdline, spec, "11", "19", 0)
    assert invocation.argvs == [
        ["r", "-f", str(frame), "--chunk=11:19"] for frame in (11, 13, 15, 17, 19)
    ]


def test_frame_with_fractional_step(cmdline: MTemplate) -> None:
    spec = job(start="0", end="2", by="0.5", command=["r", "{frame}"])
    invocation = build_invocations(cmdline, spec, "0", "1.2", 0)
    assert [argv[1] for argv in invocation.argvs] == ["0", "0.5", "1"]


def test_environment_merges_process_job_and_template() -> None:
    template = Custom()
    spec = job(environ={"JOB_VAR": "job", "OVERRIDDEN": "by job"}, data={"scene": "a.blend"})
    invocation = build_invocations(
        template, spec, "1", "5", 0, base_env={"PATH": "/bin", "OVERRIDDEN": "by process"}
    )
    assert invocation.env == {
        "PATH": "/bin",
        "JOB_VAR": "job",
        "OVERRIDDEN": "by template",
        "FROM_TEMPLATE": "a.blend",
    }


def test_environment_defaults_to_this_process(cmdline: MTemplate, monkeypatch: Any) -> None:
    monkeypatch.setenv("CORRAL_TEST_VARIABLE", "present")
    invocation = build_invocations(cmdline, job(environ={"JOB_VAR": "1"}), "1", "5", 0)
    assert invocation.env["CORRAL_TEST_VARIABLE"] == "present"
    assert invocation.env["JOB_VAR"] == "1"


def test_shell_syntax_stays_one_token(cmdline: MTemplate) -> None:
    spec = job(command=["echo", "done; rm -rf /", "$(whoami)", "a b"])
    invocation = build_invocations(cmdline, spec, "1", "5", 0)
    assert invocation.argvs == [["echo", "done; rm -rf /", "$(whoami)", "a b"]]


def test_application_path_is_prepended_whole_and_cwd_is_used() -> None:
    template = Custom(command="--scene 'my file.blend' -s {start} -i {instance}")
    prefs = {"APP": "/opt/my app/render", "CWD": "/shots/dir"}
    invocation = build_invocations(template, job(), "6", "10", 3, prefs, attempt=2)
    assert invocation.argvs == [
        ["/opt/my app/render", "--scene", "my file.blend", "-s", "6", "-i", "3"]
    ]
    assert invocation.cwd == "/shots/dir"
    assert template.seen_chunk is not None
    assert (template.seen_chunk.getChunkId(), template.seen_chunk.getAttempt()) == (1, 2)
    assert template.seen_chunk.getJobId() == 9


def test_template_failures_raise_template_error() -> None:
    with pytest.raises(TemplateError, match="onBuildCommandLine raised KeyError"):
        build_invocations(Custom(fail_with=KeyError("APP")), job(), "1", "5", 0)
    with pytest.raises(TemplateError, match="empty command line"):
        build_invocations(Custom(command="   "), job(), "1", "5", 0)
    with pytest.raises(TemplateError, match="cannot split"):
        build_invocations(Custom(command="tool 'unclosed"), job(), "1", "5", 0)


def test_a_chunk_ending_before_it_starts_is_refused(cmdline: MTemplate) -> None:
    with pytest.raises(TemplateError, match="ends at frame 1 before it starts at 5"):
        build_invocations(cmdline, job(), "5", "1", 0)


def test_an_empty_job_command_is_refused(cmdline: MTemplate) -> None:
    with pytest.raises(TemplateError, match="empty command line"):
        build_invocations(cmdline, job(command=[]), "1", "5", 0)


def test_demo_template_command(bundled: TemplateSet) -> None:
    demo = bundled.get("demo")
    assert demo is not None
    spec = job(template="demo", end="48", by="2", data={"output_folder": "/renders/out dir"})
    invocation = build_invocations(demo, spec, "11", "19", 0)
    (argv,) = invocation.argvs
    script = bundled_templates_dir() / "tools" / "raytrace.py"
    assert argv[0] == sys.executable
    assert Path(argv[1]) == script.resolve()
    assert argv[2:] == [
        "--start", "11", "--end", "19", "--by", "2", "--out", "/renders/out dir",
        "--width", "160", "--height", "90", "--total-frames", "24",
    ]  # fmt: skip
    assert invocation.env["PYTHONUNBUFFERED"] == "1"
    assert demo.getMappings() == {
        "DEMOOUTPUT": "output_folder",
        "DEMOWIDTH": "width",
        "DEMOHEIGHT": "height",
    }


def test_demo_template_needs_an_output_folder(bundled: TemplateSet) -> None:
    demo = bundled.get("demo")
    assert demo is not None
    with pytest.raises(TemplateError, match="output_folder"):
        build_invocations(demo, job(template="demo"), "1", "5", 0)


def test_check_result_exit_codes(cmdline: MTemplate) -> None:
    assert check_result(cmdline, job(), "1", "5", 0, "all fine") == (True, "")
    ok, reason = check_result(cmdline, job(), "1", "5", 1, "")
    assert not ok and "code 1" in reason and "onCheckExitCode" in reason


def test_check_result_reads_the_log() -> None:
    ok, reason = check_result(Custom(), job(), "1", "5", 0, "frame 1\nERROR: out of memory")
    assert not ok and reason == "onCheckLog: the log reports an error"
    ok, reason = check_result(Custom(), job(), "1", "5", 2, "ERROR")
    assert not ok and "onCheckExitCode" in reason and "onCheckLog" in reason


def test_check_result_counts_a_raising_template_as_failure() -> None:
    ok, reason = check_result(
        Custom(fail_with=RuntimeError("parser broke")), job(), "1", "5", 0, ""
    )
    assert not ok
    assert reason == "onCheckLog raised RuntimeError: parser broke"


def test_a_templates_job_is_its_own_copy_of_the_wire_dict() -> None:
    tags = {"a", "b"}
    job: dict[str, Any] = {
        "id": 7,
        "title": "shot",
        "command": ["render", "-f"],
        "data": {"layers": [{"name": "beauty"}], "ratio": 1.5, "off": None, "on": True},
        "tags": tags,  # not a wire type: deep-copied as MJob(job) does
    }
    mjob = template_job(job)
    assert mjob.to_dict() == MJob(job).to_dict()
    # What a callback changes stays in its copy, nested dicts and lists included.
    mjob.attributeSetString("pass", "diffuse")
    mjob.setName("renamed")
    assert "pass" not in job["data"] and job["title"] == "shot"
    held = mjob._data
    assert held["data"]["layers"] is not job["data"]["layers"]
    assert held["data"]["layers"][0] is not job["data"]["layers"][0]
    assert held["command"] is not job["command"]
    assert held["tags"] == tags and held["tags"] is not tags
