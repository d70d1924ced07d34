"""Engine event commands: splitting, variables and their modifiers."""

from decimal import Decimal

import pytest

from dispatcher import engine_events
from dispatcher.errors import ValidationError
from dispatcher.model import Job, Node
from dispatcher.operations.engines import checked_settings

SEED_SUCCESS = (
    "python /sw/pipeline/work_finished.py 'success' $(ID) $(Parent) $(Type) $(Scene.File.Enquote)"
)


def make_job(**data: object) -> Job:
    job = Job(id=7, title="Render - layer1", start=Decimal(1001), end=Decimal(1010), batch=5,
              notes="check the fur", data=dict(data))  # fmt: skip
    job.init_chunks()
    return job


def values(job: Job, ok: bool = True) -> dict[str, str]:
    node = Node(id=3, name="RENDER_0001", instance=1)
    return engine_events.variables(job, 1, node, ok=ok, exit_code=0 if ok else 2, error="")


def test_the_seeds_command_gets_one_argument_per_variable() -> None:
    job = make_job(Scene="/path/to the/scene file.mb", Type="Maya")
    argv = engine_events.command_line(SEED_SUCCESS, values(job))
    assert argv == ["python", "/sw/pipeline/work_finished.py", "success",
                    engine_events.work_uuid(job, 1), job.uuid, "Maya", "scene file.mb"]  # fmt: skip


def test_work_ids_are_stable_and_differ_per_chunk() -> None:
    job = make_job()
    assert engine_events.work_uuid(job, 0) == engine_events.work_uuid(job, 0)
    assert engine_events.work_uuid(job, 0) != engine_events.work_uuid(job, 1)


def test_known_variables_and_modifiers() -> None:
    job = make_job(scene="C:\\shows\\final\\shot.ma", smedge={"Extra": "-rl layer1"})
    found = values(job, ok=False)
    line = "x $(Name) $(Note) $(Range) $(Engine) $(Status) $(ExitCode) $(Type) $(Extra)"
    assert engine_events.command_line(line, found)[1:] == [
        "Render - layer1", "check the fur", "1006-1010", "RENDER_0001#1", "failed", "2",
        "cmdline", "-rl layer1",
    ]  # fmt: skip
    assert engine_events.substitute("$(Scene.Path.File)", found) == "final"
    assert engine_events.substitute("$(Scene.Ext)", found) == "ma"
    assert engine_events.substitute("$(scene.file)", found) == "shot.ma"
    assert engine_events.substitute("--in=$(Nothing)!", found) == "--in=!"


def test_values_never_leave_their_argument() -> None:
    job = make_job(Scene="a b; rm -rf / $(ID)")
    argv = engine_events.command_line("run $(Scene) $(Note)", values(job))
    assert argv == ["run", "a b; rm -rf / $(ID)", "check the fur"]


@pytest.mark.parametrize(
    "command",
    ["echo 'open", "echo $(Scene.Bogus)", "x" * 5000, "echo a\nb", " ".join(["a"] * 300)],
)
def test_bad_commands_are_refused(command: str) -> None:
    with pytest.raises(ValueError):
        engine_events.split(command)
    with pytest.raises(ValidationError):
        checked_settings({"WorkFinishedSuccessfulEvt": command})


@pytest.mark.parametrize(
    "settings",
    [{}, [], {"ID": "x"}, {"Enabled": 1}, {"1abc": "x"}, {"a" * 65: "x"}, {"Big": "x" * 4097},
     {"Nested": [1]}, {"JobFinishedEvt": "echo"}, {f"S{i}": "1" for i in range(257)}],
)  # fmt: skip
def test_bad_settings_are_refused(settings: object) -> None:
    with pytest.raises(ValidationError):
        checked_settings(settings)


def test_settings_are_kept_as_text_and_empty_events_remove() -> None:
    checked = checked_settings({"UseGPUs": 4, "Fast": True, "Ratio": 0.5, "Gone": None,
                                "WorkFinishedSuccessfulEvt": ""})  # fmt: skip
    assert checked == {"UseGPUs": "4", "Fast": "1", "Ratio": "0.5", "Gone": None,
                       "WorkFinishedSuccessfulEvt": None}  # fmt: skip


def test_a_smedge_submits_parameters_are_found_by_their_smedge_names() -> None:
    job = make_job(job_file="/shows/a/shot.mb", smedge={"params": {"Type": "Maya", "Foo": "bar"}})
    argv = engine_events.command_line("x $(Type) $(Scene.File) $(foo) $(job_file)", values(job))
    assert argv == ["x", "Maya", "shot.mb", "bar", "/shows/a/shot.mb"]
