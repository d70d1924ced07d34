"""`corral submit` and every command's --help: options become the POST /jobs/ body."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from console.cli import main
from console.http import DispatcherClient, RequestRefused
from console.jobs_cli import job_body, parse_frames, parse_pairs

GLOBAL = ["--dispatcher", "http://farm.invalid:9890", "--token", "t0ken"]
CLEAN_ENV: dict[str, str | None] = {
    "CORRAL_TOKEN": None,
    "CORRAL_DISPATCHER": None,
    "CORRAL_DATA_DIR": None,
}

COMMANDS = [
    [],
    ["submit"],
    ["jobs"],
    ["jobs", "list"],
    ["jobs", "show"],
    ["jobs", "pause"],
    ["jobs", "resume"],
    ["jobs", "delete"],
    ["jobs", "reinit"],
    ["jobs", "set"],
    ["nodes"],
    ["nodes", "list"],
    ["logs"],
    ["why"],
    ["watch"],
    ["dispatcher"],
    ["renderclient"],
    ["demo"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "corral")
def test_help(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Usage: corral")


class Submits:
    """Stands in for the dispatcher: records POST /jobs/ bodies and answers like it."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self.next_id = 1

    def __call__(self, method: str, path: str, *, body: Any = None, query: Any = None) -> Any:
        if method == "GET" and path.startswith("/jobs/"):
            ref = path.removeprefix("/jobs/")
            if ref == "lighting":
                return {"id": 7, "title": "lighting"}
            raise RequestRefused(404, "Not Found", f"no job titled {ref!r}")
        assert (method, path) == ("POST", "/jobs/")
        self.bodies.append(body)
        jobs = [self._created(item) for item in (body if isinstance(body, list) else [body])]
        return jobs if isinstance(body, list) else jobs[0]

    def _created(self, item: dict[str, Any]) -> dict[str, Any]:
        job = {**item, "id": self.next_id, "chunks": {"total": 3}}
        self.next_id += 1
        return job


@pytest.fixture
def submits(monkeypatch: pytest.MonkeyPatch) -> Submits:
    fake = Submits()
    monkeypatch.setattr(DispatcherClient, "request", fake)
    return fake


@pytest.fixture
def invoke() -> Callable[..., Result]:
    def run(*args: str, stdin: str | None = None) -> Result:
        return CliRunner().invoke(main, [*GLOBAL, *args], input=stdin, env=CLEAN_ENV)

    return run


def test_submit_builds_the_job_body(submits: Submits, invoke: Callable[..., Result]) -> None:
    result = invoke(
        "submit", "--name", "shot010", "--frames", "1-100", "--packet", "10",
        "--priority", "60", "--pool", "gpu", "--pool", "linux", "--exclude-pool", "slow",
        "--max-nodes", "4", "--requeue", "1", "--time-limit", "600", "--notes", "hello",
        "--env", "OCIO=/show/config.ocio", "--env", "EMPTY=", "--attr", "camera=cam_A",
        "--paused", "--", "render", "-s", "{start}", "-e", "{end}", "--flag",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == 'submitted job 1 "shot010" (3 chunks)\n'
    assert submits.bodies == [
        {
            "title": "shot010",
            "template": "cmdline",
            "start": 1,
            "end": 100,
            "batch": 10,
            "command": ["render", "-s", "{start}", "-e", "{end}", "--flag"],
            "priority": 60,
            "max_nodes": 4,
            "requeue": 1,
            "time_limit_s": 600.0,
            "notes": "hello",
            "pools": ["gpu", "linux"],
            "excluded_pools": ["slow"],
            "environ": {"OCIO": "/show/config.ocio", "EMPTY": ""},
            "data": {"camera": "cam_A"},
            "paused": True,
        }
    ]


@pytest.mark.parametrize(
    ("frames", "by", "start", "end", "step"),
    [
        ("1-100", "1", 1, 100, 1),
        ("-10--1", "2", -10, -1, 2),
        ("1.5-3", "0.5", 1.5, 3, 0.5),
        ("42", "1", 42, 42, 1),
    ],
)
def test_submit_frame_ranges(
    submits: Submits,
    invoke: Callable[..., Result],
    frames: str,
    by: str,
    start: float,
    end: float,
    step: float,
) -> None:
    result = invoke("submit", "--name", "r", "--frames", frames, "--by", by, "--", "echo")
    assert result.exit_code == 0, result.output
    body = submits.bodies[-1]
    assert (body["start"], body["end"], body["by"]) == (start, end, step)
    assert json.loads(json.dumps(body)) == body


def test_frames_with_an_equals_sign_and_a_leading_dash(
    submits: Submits, invoke: Callable[..., Result]
) -> None:
    result = invoke("submit", "--name", "r", "--frames=-5-5", "--", "echo")
    assert result.exit_code == 0, result.output
    assert (submits.bodies[-1]["start"], submits.bodies[-1]["end"]) == (-5, 5)


@pytest.mark.parametrize(
    "args",
    [
        ["--name", "x", "--frames", "1-10"],  # cmdline without a command
        ["--name", "x", "--frames", "abc", "--", "echo"],
        ["--name", "x", "--frames", "10-1", "--", "echo"],
        ["--name", "x", "--by", "0", "--", "echo"],
        ["--name", "x", "--env", "NOEQUALS", "--", "echo"],
        ["--name", "x", "--attr", "=v", "--", "echo"],
        ["--name", "x", "--packet", "0", "--", "echo"],
        ["--name", "x", "--depend-mode", "sometimes", "--", "echo"],
        ["--frames", "1-10", "--", "echo"],  # no name
        ["--file", "-", "--name", "x"],
    ],
)
def test_submit_usage_errors(
    submits: Submits, invoke: Callable[..., Result], args: list[str]
) -> None:
    result = invoke("submit", *args, stdin='{"title": "a"}')
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("corral: error: ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert submits.bodies == []


def test_other_templates_need_no_command(submits: Submits, invoke: Callable[..., Result]) -> None:
    result = invoke(
        "submit", "--template", "demo", "--name", "d", "--frames", "1-24", "--packet", "4",
        "--attr", "output_folder=/shows/out", "--attr", "width=160",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    body = submits.bodies[-1]
    assert body["template"] == "demo" and "command" not in body
    assert body["data"] == {"output_folder": "/shows/out", "width": "160"}


def test_depends_on_ids_and_titles(submits: Submits, invoke: Callable[..., Result]) -> None:
    result = invoke(
        "submit", "--name", "comp", "--depends-on", "3", "--depends-on", "lighting",
        "--depend-mode", "always", "--per-frame", "--", "comp.sh",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    body = submits.bodies[-1]
    assert body["depends_on"] == [{"job": 3, "mode": "always"}, {"job": 7, "mode": "always"}]
    assert body["per_frame"] is True


def test_unknown_dependency_is_a_refusal(submits: Submits, invoke: Callable[..., Result]) -> None:
    result = invoke("submit", "--name", "c", "--depends-on", "nope", "--", "x")
    assert result.exit_code == 1
    assert result.stderr == "corral: error: no job titled 'nope'\n"


def test_submit_json_prints_the_created_job(
    submits: Submits, invoke: Callable[..., Result]
) -> None:
    result = invoke("submit", "--name", "j", "--json", "--", "echo", "hi")
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert created["id"] == 1 and created["title"] == "j"


def test_submit_file_from_stdin_list(submits: Submits, invoke: Callable[..., Result]) -> None:
    jobs = [{"title": "a", "command": ["true"]}, {"title": "b", "command": ["true"]}]
    result = invoke("submit", "--file", "-", stdin=json.dumps(jobs))
    assert result.exit_code == 0, result.output
    assert submits.bodies == [jobs]
    assert result.stdout.splitlines() == [
        'submitted job 1 "a" (3 chunks)',
        'submitted job 2 "b" (3 chunks)',
    ]


def test_submit_file_single_object_json(submits: Submits, invoke: Callable[..., Result]) -> None:
    result = invoke("submit", "--file", "-", "--json", stdin='{"title": "one"}')
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["title"] == "one"


@pytest.mark.parametrize("content", ["{not json", "[]", "[1]", '"text"'])
def test_submit_bad_file(submits: Submits, invoke: Callable[..., Result], content: str) -> None:
    result = invoke("submit", "--file", "-", stdin=content)
    assert result.exit_code == 2
    assert result.stderr.startswith("corral: error: Invalid value for '--file'")


def test_parse_helpers() -> None:
    assert parse_frames("1-100") == (1, 100)
    assert parse_frames("-10--1") == (-10, -1)
    assert parse_frames("1.5-3") == (1.5, 3)
    assert parse_pairs(["A=1", "B=x=y", "A=2"], "--env") == {"A": "2", "B": "x=y"}
    with pytest.raises(click.BadParameter):
        parse_pairs(["novalue"], "--env")


def test_job_body_keeps_server_defaults_out() -> None:
    # No frames and no step: the template's frame items or the dispatcher's default decide.
    options = {"name": "n", "template": None, "frames": None, "by": None, "packet": 1}
    assert job_body(options, ["echo"]) == {
        "title": "n",
        "template": "cmdline",
        "batch": 1,
        "command": ["echo"],
    }
