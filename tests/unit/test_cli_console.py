"""The console commands against a stand-in REST API: output, --json, exit codes, errors."""

from __future__ import annotations

import copy
import io
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from console.cli import main
from console.events import StreamEvent
from console.http import AuthFailed, DispatcherClient, RequestRefused

CLEAN_ENV: dict[str, str | None] = {
    "CORRAL_TOKEN": None,
    "CORRAL_DISPATCHER": None,
    "CORRAL_DATA_DIR": None,
}


def job(job_id: int, title: str, state: str = "queued", **chunks: int) -> dict[str, Any]:
    counts = {"total": 4, "queued": 4, "running": 0, "done": 0, "failed": 0, "skipped": 0}
    counts.update(chunks)
    return {
        "id": job_id,
        "title": title,
        "state": state,
        "kind": "job",
        "parent": -1,
        "user": "admin",
        "template": "cmdline",
        "priority": 50,
        "paused": state == "paused",
        "start": 1,
        "end": 8,
        "by": 1,
        "batch": 2,
        "pools": [],
        "excluded_pools": [],
        "max_nodes": 0,
        "depends_on": [],
        "per_frame": False,
        "requeue": 3,
        "time_limit_s": 0.0,
        "environ": {},
        "notes": "",
        "data": {},
        "command": ["echo", "{start}"],
        "project": "",
        "department": "",
        "time_submitted": "2024-05-01T10:00:00+00:00",
        "time_started": None,
        "time_finished": None,
        "chunks": counts,
        "progress": (counts["done"] + counts["skipped"]) / counts["total"],
        "failed_reason": "",
    }


class FakeApi:
    """Answers `DispatcherClient.request` from a route table and records every call."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Any] = {}
        self.calls: list[tuple[str, str, Any, dict[str, Any]]] = []
        self.clients: list[tuple[str, str | None]] = []

    def on(self, method: str, path: str, answer: Any) -> None:
        self.routes[(method, path)] = answer

    def handle(
        self, client: DispatcherClient, method: str, path: str, body: Any, query: Any
    ) -> Any:
        self.clients.append((client.base_url, client.token))
        self.calls.append((method, path, body, dict(query or {})))
        if (method, path) not in self.routes:
            raise RequestRefused(404, "Not Found", f"nothing at {method} {path}")
        answer = self.routes[(method, path)]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(body)
        return copy.deepcopy(answer)


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    fake = FakeApi()

    def request(
        self: DispatcherClient, method: str, path: str, *, body: Any = None, query: Any = None
    ) -> Any:
        return fake.handle(self, method, path, body, query)

    monkeypatch.setattr(DispatcherClient, "request", request)
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    return fake


@pytest.fixture
def invoke() -> Callable[..., Result]:
    def run(*args: str, env: dict[str, str | None] | None = None) -> Result:
        return CliRunner().invoke(
            main,
            ["--dispatcher", "http://farm.invalid:9890", "--token", "t", *args],
            env={**CLEAN_ENV, **(env or {})},
        )

    return run


def _one_error_line(result: Result) -> str:
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("corral: error: "), result.stderr
    return lines[0]


# -- listings ------------------------------------------------------------------


def test_jobs_list_json_is_the_api_objects_sorted(
    api: FakeApi, invoke: Callable[..., Result]
) -> None:
    jobs = [job(1, "shot010", "running", running=2, done=1, queued=1), job(2, "shot020")]
    api.on("GET", "/jobs/", jobs)
    result = invoke("jobs", "list", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == jobs
    assert result.stdout == json.dumps(jobs, indent=2, sort_keys=True) + "\n"
    assert api.calls == [("GET", "/jobs/", None, {"state": None, "hidden": "false"})]


def test_jobs_list_table(api: FakeApi, invoke: Callable[..., Result]) -> None:
    api.on("GET", "/jobs/", [job(1, "shot010", "running", running=1, done=2, queued=1)])
    result = invoke("jobs", "list", "--state", "running")
    assert result.exit_code == 0, result.output
    header, row = result.stdout.splitlines()[:2]
    for column in ("ID", "TITLE", "STATE", "PROGRESS", "CHUNKS", "PRIORITY", "USER", "TEMPLATE"):
        assert column in header
    assert row.split() == ["1", "shot010", "running", "50%", "2/4", "50", "admin", "cmdline"]
    assert api.calls[0][3] == {"state": "running", "hidden": "false"}


def test_jobs_list_empty(api: FakeApi, invoke: Callable[..., Result]) -> None:
    api.on("GET", "/jobs/", [])
    assert invoke("jobs", "list").stdout == "no jobs\n"


def test_jobs_show_by_title_and_json(api: FakeApi, invoke: Callable[..., Result]) -> None:
    api.on("GET", "/jobs/shot%20010", job(3, "shot 010"))
    result = invoke("jobs", "show", "shot 010")
    assert result.exit_code == 0, result.output
    assert "shot 010" in result.stdout and "1-8" in result.stdout
    result = invoke("jobs", "show", "shot 010", "--json")
    assert json.loads(result.stdout)["id"] == 3


def test_jobs_set_sends_only_the_given_fields(api: FakeApi, invoke: Callable[..., Result]) -> None:
    api.on("PATCH", "/jobs/4", lambda body: {**job(4, body.get("title", "x")), **body})
    result = invoke(
        "jobs", "set", "4", "--priority", "80", "--name", "renamed", "--pool", "gpu",
        "--time-limit", "90", "--not-paused",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == 'updated job 4 "renamed"\n'
    assert api.calls[-1][2] == {
        "priority": 80,
        "title": "renamed",
        "pools": ["gpu"],
        "time_limit_s": 90.0,
        "paused": False,
    }


def test_jobs_set_empty_pool_clears(api: FakeApi, invoke: Callable[..., Result]) -> None:
    api.on("PATCH", "/jobs/4", lambda body: job(4, "x"))
    assert invoke("jobs", "set", "4", "--pool", "").exit_code == 0
    assert api.calls[-1][2] == {"pools": []}


def test_actions_go_on_after_a_refusal_and_exit_1(
    api: FakeApi, invoke: Callable[..., Result]
) -> None:
    api.on("POST", "/jobs/1/actions/pause", job(1, "a", "paused"))
    api.on("POST", "/jobs/3/actions/pause", job(3, "c", "paused"))
    result = invoke("jobs", "pause", "1", "2", "3")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == ['paused job 1 "a"', 'paused job 3 "c"']
    assert result.stderr.splitlines() == [
        "corral: error: job 2: nothing at POST /jobs/2/actions/pause",
        "corral: error: 1 of the requested jobs refused the action",
    ]


@pytest.mark.parametrize(("action", "past"), [("resume", "resumed"), ("reinit", "reinitialized")])
def test_resume_and_reinit(
    api: FakeApi, invoke: Callable[..., Result], action: str, past: str
) -> None:
    api.on("POST", f"/jobs/5/actions/{action}", job(5, "e"))
    result = invoke("jobs", action, "5")
    assert result.exit_code == 0, result.output
    assert result.stdout == f'{past} job 5 "e"\n'


def test_delete_resolves_titles(api: FakeApi, invoke: Callable[..., Result]) -> None:
    api.on("GET", "/jobs/old", job(9, "old"))
    api.on("DELETE", "/jobs/9", None)
    result = invoke("jobs", "delete", "old")
    assert result.exit_code == 0, result.output
    assert result.stdout == "deleted job 9\n"


def test_nodes_list(api: FakeApi, invoke: Callable[..., Result]) -> None:
    nodes = [
        {"id": 1, "name": "rn01", "instance": 0, "host": "rn01", "online": True, "paused": False,
         "pools": ["gpu"], "running": [{"job": 3, "chunk": 2, "attempt": 1}],
         "address": "10.0.0.5:50000", "last_seen": "2024-05-01T10:00:00+00:00"},
        {"id": 2, "name": "rn01#1", "instance": 1, "host": "rn01", "online": False,
         "paused": False, "pools": [], "running": [], "address": "", "last_seen": None},
    ]  # fmt: skip
    api.on("GET", "/nodes/", nodes)
    result = invoke("nodes", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "busy" in lines[1] and "job 3 chunk 2" in lines[1]
    assert "rn01#1" in lines[2] and "offline" in lines[2]
    assert json.loads(invoke("nodes", "list", "--json").stdout) == nodes


def test_logs_lists_chunks_or_prints_one(api: FakeApi, invoke: Callable[..., Result]) -> None:
    tasks = [
        {"id": 0, "job_id": 2, "state": "done", "start": 1, "end": 2, "attempts": 1,
         "node": "rn01", "node_id": 1, "time_started": None, "time_finished": None,
         "exit_code": 0, "error": ""},
        {"id": 1, "job_id": 2, "state": "failed", "start": 3, "end": 4, "attempts": 2,
         "node": "rn02", "node_id": 2, "time_started": None, "time_finished": None,
         "exit_code": 3, "error": "exit code 3"},
    ]  # fmt: skip
    api.on("GET", "/jobs/2/tasks/", tasks)
    api.on("GET", "/jobs/2", {"id": 2, "chunks": {"total": 2}, "task_ids": [[0, 40]]})
    api.on("GET", "/jobs/2/tasks/41/log", "line one\nline two\n")
    listing = invoke("logs", "2")
    assert listing.exit_code == 0, listing.output
    assert "exit code 3" in listing.stdout and "3-4" in listing.stdout
    assert json.loads(invoke("logs", "2", "--json").stdout) == tasks
    log = invoke("logs", "2", "1", "--attempt", "2")
    assert log.stdout == "line one\nline two\n"
    assert api.calls[-1][3] == {"attempt": 2}


def test_why(api: FakeApi, invoke: Callable[..., Result]) -> None:
    answer = {"job": 6, "state": "queued", "reasons": ["no node in pool gpu", "waits for job 5"]}
    api.on("GET", "/jobs/6/why", answer)
    result = invoke("why", "6")
    assert result.stdout.splitlines() == [
        "job 6 is queued:",
        "  - no node in pool gpu",
        "  - waits for job 5",
    ]
    assert json.loads(invoke("why", "6", "--json").stdout) == answer


# -- watch ---------------------------------------------------------------------


class Follower:
    """The stream `watch` follows: these events, then idle ticks."""

    def __init__(self, *events: StreamEvent) -> None:
        self.events = events

    def __enter__(self) -> Follower:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def wait_connected(self, timeout_s: float) -> bool:
        return True

    def __iter__(self) -> Any:
        yield from self.events
        while True:
            yield None


def _stream(monkeypatch: pytest.MonkeyPatch, *events: StreamEvent) -> list[dict[str, Any]]:
    asked: list[dict[str, Any]] = []

    def follow(self: DispatcherClient, **filters: Any) -> Follower:
        asked.append(filters)
        return Follower(*events)

    monkeypatch.setattr(DispatcherClient, "follow", follow)
    return asked


def _progress(number: int, state: str, **chunks: int) -> StreamEvent:
    counts = {"total": 4, "queued": 4, "running": 0, "done": 0, "failed": 0, "skipped": 0, **chunks}
    data = {"type": "progress", "action": "job_progress", "actor": "system", "job": 1,
            "state": state, "chunks": counts}  # fmt: skip
    return StreamEvent(number, "progress", data)


def test_watch_until_done(
    api: FakeApi, invoke: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    api.on("GET", "/jobs/1", job(1, "a", "paused"))
    paused = job(1, "a", "paused")
    resumed = {**paused, "state": "queued", "paused": False}
    asked = _stream(
        monkeypatch,
        _progress(5, "running", queued=2, running=2),
        StreamEvent(6, "job", {"type": "job", "action": "edit", "jobs": [1]}),
        _progress(7, "done", queued=0, done=4),
    )
    reads = iter([paused, resumed])
    api.on("GET", "/jobs/1", lambda body: next(reads))
    result = invoke("watch", "1")
    assert result.exit_code == 0, result.output
    assert asked == [{"jobs": [1]}]
    assert result.stdout.splitlines() == [
        "job 1 paused: 0/4 chunks done, 0 running, 0 failed",
        "job 1 running: 0/4 chunks done, 2 running, 0 failed",
        "job 1 queued: 0/4 chunks done, 0 running, 0 failed",  # read again after the edit
        "job 1 done: 4/4 chunks done, 0 running, 0 failed",
    ]


def test_watch_failed_exits_1(
    api: FakeApi, invoke: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    failed = {
        **job(1, "a", "failed", queued=0, done=3, failed=1),
        "failed_reason": "chunk 3 failed",
    }
    reads = iter([job(1, "a", "running", running=1), failed])
    api.on("GET", "/jobs/1", lambda body: next(reads))
    _stream(monkeypatch, StreamEvent(9, "missed", {"type": "missed", "action": "missed"}))
    result = invoke("watch", "1", "--json")
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["type"] for line in lines] == ["snapshot", "missed"]
    assert lines[0]["state"] == "running" and lines[1]["id"] == 9
    assert _one_error_line(result) == 'corral: error: job 1 "a" failed: chunk 3 failed'


# -- errors --------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_unreachable_dispatcher_exits_3() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    result = CliRunner().invoke(
        main, ["--dispatcher", url, "--token", "t", "jobs", "list"], env=CLEAN_ENV
    )
    assert result.exit_code == 3
    line = _one_error_line(result)
    assert line == f"corral: error: cannot reach the dispatcher at {url} (connection refused)"


def test_unreachable_dispatcher_from_env_exits_3() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    env = {**CLEAN_ENV, "CORRAL_DISPATCHER": url, "CORRAL_TOKEN": "t"}
    result = CliRunner().invoke(main, ["why", "3"], env=env)
    assert result.exit_code == 3
    assert url in _one_error_line(result)


def test_auth_failure_exits_4_with_a_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    problem = b'{"title": "Unauthorized", "status": 401, "detail": "missing bearer token"}'

    def refuse(opener: Any, request: urllib.request.Request, timeout: float) -> Any:
        assert request.get_header("Authorization") is None
        raise _http_error(401, problem, "application/problem+json")

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(urllib.request.OpenerDirector, "open", refuse)
    result = CliRunner().invoke(main, ["jobs", "list"], env=CLEAN_ENV)
    assert result.exit_code == 4
    line = _one_error_line(result)
    assert "missing bearer token" in line and "CORRAL_TOKEN" in line


def test_refusal_with_field_exits_1(api: FakeApi, invoke: Callable[..., Result]) -> None:
    api.on("PATCH", "/jobs/2", RequestRefused(400, "Bad Request", "must be at least 0", "priority"))
    result = invoke("jobs", "set", "2", "--notes", "x")
    assert result.exit_code == 1
    assert _one_error_line(result) == "corral: error: priority: must be at least 0"


def test_unexpected_errors_are_one_line(api: FakeApi, invoke: Callable[..., Result]) -> None:
    api.on("GET", "/jobs/", ZeroDivisionError("boom"))
    result = invoke("jobs", "list")
    assert result.exit_code == 1
    assert _one_error_line(result) == "corral: error: unexpected ZeroDivisionError: boom"


def test_token_and_url_discovery_through_the_cli(
    api: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, data = tmp_path / "home", tmp_path / "data"
    data.mkdir()
    (data / "admin.token").write_text("admin-token\n")
    (data / "dispatcher.json").write_text(json.dumps({"pid": 1, "http_url": "http://farm:1"}))
    monkeypatch.setenv("HOME", str(home))
    api.on("GET", "/jobs/", [])
    runner = CliRunner()
    runner.invoke(main, ["--data-dir", str(data), "jobs", "list"], env=CLEAN_ENV)
    runner.invoke(main, ["jobs", "list"], env={**CLEAN_ENV, "CORRAL_DATA_DIR": str(data)})
    runner.invoke(
        main, ["jobs", "list"], env={"CORRAL_DATA_DIR": str(data), "CORRAL_TOKEN": "env-token",
                                     "CORRAL_DISPATCHER": "http://other:2"},
    )  # fmt: skip
    (home / ".config" / "corral").mkdir(parents=True)
    (home / ".config" / "corral" / "token").write_text("home-token")
    runner.invoke(main, ["--data-dir", str(data), "jobs", "list"], env=CLEAN_ENV)
    assert api.clients == [
        ("http://farm:1", "admin-token"),
        ("http://farm:1", "admin-token"),
        ("http://other:2", "env-token"),
        ("http://farm:1", "home-token"),
    ]


# -- the HTTP client without a server ------------------------------------------


def _http_error(status: int, body: bytes, content_type: str) -> urllib.error.HTTPError:
    headers = Message()
    headers["Content-Type"] = content_type
    return urllib.error.HTTPError("http://x/", status, "Reason", headers, io.BytesIO(body))


def test_problem_json_becomes_a_refusal() -> None:
    client = DispatcherClient("http://x", "t")
    problem = {"title": "Bad Request", "status": 400, "detail": "title: required", "field": "title"}
    error = client._refusal(
        _http_error(400, json.dumps(problem).encode(), "application/problem+json")
    )
    assert type(error) is RequestRefused and error.exit_code == 1
    assert (error.status, error.field, str(error)) == (400, "title", "title: required")


def test_401_and_403_are_auth_failures() -> None:
    client = DispatcherClient("http://x", None, auth_hint="no token found")
    for status in (401, 403):
        error = client._refusal(
            _http_error(status, b'{"title": "Unauthorized"}', "application/json")
        )
        assert isinstance(error, AuthFailed) and error.exit_code == 4
        assert "no token found" in str(error)


def test_a_plain_text_error_body_is_kept() -> None:
    client = DispatcherClient("http://x", "t")
    error = client._refusal(_http_error(502, b"Bad Gateway from proxy", "text/plain"))
    assert str(error) == "Bad Gateway from proxy"


# -- hostile stored strings ----------------------------------------------------

HOSTILE = "[red]x\x1b[2J\x9b1m\x07"


def test_a_hostile_title_prints_escaped_everywhere(
    api: FakeApi, invoke: Callable[..., Result]
) -> None:
    hostile = job(5, HOSTILE)
    hostile.update(notes="n\x1b]0;owned\x07", failed_reason="\x1b[31mred", environ={"K": "v\x1b"})
    api.on("GET", "/jobs/", [hostile])
    api.on("GET", "/jobs/5", hostile)
    api.on("POST", "/jobs/5/actions/pause", hostile)
    outputs = [
        invoke("jobs", "list"),
        invoke("jobs", "show", "5"),
        invoke("jobs", "list", "--json"),
        invoke("jobs", "pause", "5"),
    ]
    for result in outputs:
        assert result.exit_code == 0, result.output
        text = result.stdout
        assert not any(ch in text for ch in "\x1b\x07\x9b"), repr(text)
    table, sheet, as_json, _paused = (result.stdout for result in outputs)
    assert "[red]x\\x1b[2J\\x9b1m\\x07" in table  # the markup too prints as it is
    assert "[red]x\\x1b[2J\\x9b1m\\x07" in sheet and "n\\x1b]0;owned\\x07" in sheet
    assert json.loads(as_json)[0]["title"] == HOSTILE  # JSON escapes it, scripts get it back


def test_an_error_naming_a_hostile_string_prints_escaped(
    api: FakeApi, invoke: Callable[..., Result]
) -> None:
    api.on("GET", "/jobs/9", RequestRefused(404, "Not Found", "no job titled '\x1b[2J'"))
    result = invoke("jobs", "show", "9")
    assert result.exit_code != 0
    assert "\x1b" not in result.stderr and "\\x1b[2J" in result.stderr, repr(result.stderr)
