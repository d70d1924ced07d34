"""Bad input is refused at the edge of a real dispatcher: 400 naming the field (or
401, 413, 422), never 500, never stored; impossible render-client values close
their session."""

from __future__ import annotations

import http.client
import json
import socket
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from dispatcher import protocol as p
from tests.integration.farm import ApiError, Farm, wait_for


def refused(farm: Farm, method: str, path: str, body: Any = None) -> ApiError:
    with pytest.raises(ApiError) as caught:
        farm.request(method, path, body)
    return caught.value


def raw_request(
    farm: Farm, method: str, path: str, body: bytes = b"", headers: dict[str, bytes] | None = None
) -> tuple[int, str, dict[str, Any] | str]:
    """One HTTP request with bytes the urllib helper cannot send (deep bodies, raw headers)."""
    url = urlsplit(farm.url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    try:
        conn.putrequest(method, path)
        sent = {"Authorization": f"Bearer {farm.token}".encode(), **(headers or {})}
        for name, value in sent.items():
            conn.putheader(name, value)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        text = response.read().decode()
        kind = response.getheader("Content-Type", "")
    finally:
        conn.close()
    return response.status, kind, json.loads(text) if "json" in kind else text


@pytest.mark.parametrize(
    ("job", "field"),
    [
        ({"command": ["echo", "a\x00b"]}, "command.1"),
        ({"command": ["true"], "environ": {"A": "x\x00y"}}, "environ.A"),
        ({"command": ["true"], "environ": {"A=B": "1"}}, "environ"),
        ({"command": ["true"], "environ": {"": "1"}}, "environ"),
        ({"command": ["true"], "data": {"x": ["ok", {"y": "\ud800"}]}}, "data.x.1.y"),
        ({"command": ["true"], "data": {"k\x00": 1}}, "data"),
        ({"command": ["true"], "notes": "\udfff"}, "notes"),
        ({"command": ["true"], "title": "evil\x1b[2J"}, "title"),
        ({"command": ["true"], "title": "two\nlines"}, "title"),
        ({"command": ["true"], "pools": ["a\x07"]}, "pools"),
        ({"command": ["true"], "project": "\x9bq"}, "project"),
        ({"title": "no command"}, "command"),
        ({"title": "no command", "command": []}, "command"),
    ],
    ids=lambda value: None if isinstance(value, dict) else value,
)
def test_hostile_job_text_is_refused_with_its_field(
    farm: Farm, job: dict[str, Any], field: str
) -> None:
    error = refused(farm, "POST", "/api/v1/jobs/", {"title": "t", **job})
    assert error.status == 400, error.body
    assert error.body["field"] == field, error.body
    assert farm.request("GET", "/api/v1/jobs/") == []


def test_hostile_edits_are_refused_and_change_nothing(farm: Farm) -> None:
    job = farm.submit(title="kept", command=["true"], paused=True)
    for change in (
        {"title": "x\x1b]0;owned\x07"},
        {"environ": {"PATH=/tmp": "1"}},
        {"command": ["a\x00"]},
        {"data": {"a": "\ud800"}},
        {"command": []},
    ):
        error = refused(farm, "PATCH", f"/api/v1/jobs/{job['id']}", change)
        assert error.status == 400 and error.body["field"], error.body
    after = farm.job(job["id"])
    # (PyFarm's answer shows an unset environ as null)
    assert (after["title"], after["environ"], after["command"]) == ("kept", None, ["true"])


def test_deep_json_is_400_everywhere_login_included(farm: Farm) -> None:
    for depth in (65, 100_000):
        body = ("[" * depth + "]" * depth).encode()
        for path in ("/api/v1/jobs/", "/api/v1/login"):
            status, kind, answer = raw_request(farm, "POST", path, body)
            assert status == 400 and kind.startswith("application/problem+json"), (
                path,
                depth,
                answer,
            )
            assert "nested deeper than 64" in str(answer), answer
    deep_data = {"title": "t", "command": ["true"], "data": {"a": json.loads("[" * 70 + "]" * 70)}}
    error = refused(farm, "POST", "/api/v1/jobs/", deep_data)
    assert error.status == 400 and error.body["field"] == "data", error.body
    assert farm.request("GET", "/api/v1/jobs/") == []


def test_a_bearer_token_that_is_not_utf8_is_401(farm: Farm) -> None:
    for token in (b"Bearer \xff\xfe\x80", b"Bearer \xc3\x28abc", b"Bearer caf\xc3\xa9"):
        status, kind, answer = raw_request(
            farm, "GET", "/api/v1/jobs/", headers={"Authorization": token}
        )
        assert status == 401 and kind.startswith("application/problem+json"), answer
    assert farm.request("GET", "/api/v1/jobs/") == []


def test_malformed_http_is_logged_in_one_line(farm: Farm) -> None:
    url = urlsplit(farm.url)
    for garbage in (
        b"GET /api/v1/jobs/ HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
        b"POST /api/v1/jobs/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ):
        with socket.create_connection((url.hostname, url.port), timeout=5) as sock:
            sock.sendall(garbage)
            assert b" 400 " in sock.recv(4096).split(b"\r\n", 1)[0]
    log = farm.data_dir.parent / f"{farm.data_dir.name}-dispatcher.log"
    text = wait_for(
        lambda: (t := log.read_text()).count("action=bad_http_request") >= 2 and t,
        10,
        "two one-line bad request records",
    )
    assert "Traceback" not in text, text


def test_chunk_limits_are_422_and_the_byte_limit_413(make_farm: Callable[..., Farm]) -> None:
    farm = make_farm(
        "--max-chunks-per-job", "100", "--max-chunks-per-request", "150",
        "--max-chunks-queued", "200", "--max-request-bytes", "4096",
    )  # fmt: skip
    base = {"command": ["true"], "paused": True}
    error = refused(farm, "POST", "/api/v1/jobs/", {"title": "big", "frames": "1-101", **base})
    assert (error.status, error.body["limit"], error.body["value"]) == (
        422,
        "max_chunks_per_job",
        100,
    )
    pair = [{"title": f"j{i}", "frames": "1-80", **base} for i in range(2)]
    error = refused(farm, "POST", "/api/v1/jobs/", pair)
    assert (error.status, error.body["limit"]) == (422, "max_chunks_per_request"), error.body
    farm.submit(title="a", frames="1-100", **base)
    farm.submit(title="b", frames="1-90", **base)
    error = refused(farm, "POST", "/api/v1/jobs/", {"title": "c", "frames": "1-11", **base})
    assert (error.status, error.body["limit"]) == (422, "max_chunks_queued"), error.body
    farm.submit(title="d", frames="1-10", **base)  # exactly at the limit
    assert [job["title"] for job in farm.request("GET", "/api/v1/jobs/")] == ["a", "b", "d"]
    status, kind, answer = raw_request(farm, "POST", "/api/v1/jobs/", b"[" + b" " * 5000 + b"]")
    assert status == 413 and kind.startswith("application/problem+json"), answer
    assert isinstance(answer, dict) and answer["status"] == 413
    assert len(farm.request("GET", "/api/v1/jobs/")) == 3


def test_the_model_bound_on_chunks_is_422_too(farm: Farm) -> None:
    job = {"title": "huge", "command": ["true"], "frames": "1-2000000"}
    error = refused(farm, "POST", "/api/v1/jobs/", job)
    assert (error.status, error.body["limit"]) == (422, "max_chunks_per_job"), error.body


# -- render clients --------------------------------------------------------------
class RawNode:
    """A render client speaking the protocol by hand, so it can send impossible values."""

    def __init__(self, farm: Farm, name: str) -> None:
        host, port = farm.render.rsplit(":", 1)
        self.sock = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
        self.reader = p.FrameReader()
        self.pending: list[bytes] = []
        secret = (farm.data_dir / "farm.secret").read_bytes().strip()
        nonce = b"c" * 32
        self.send(p.Hello(version=p.PROTOCOL_VERSION, name=name, instance=0, nonce=nonce))
        challenge = self.expect(p.Challenge)
        proof = p.proof(secret, "renderclient", nonce, challenge.nonce)
        self.send(p.Auth(proof=proof, host=name, platform=sys.platform))
        self.expect(p.Welcome)

    def send(self, message: p.Message) -> None:
        self.sock.sendall(p.encode(message))

    def recv(self) -> p.Message | None:
        while not self.pending:
            data = self.sock.recv(65536)
            if not data:
                return None
            self.pending += self.reader.feed(data)
        return p.decode(self.pending.pop(0))

    def expect(self, kind: type[Any]) -> Any:
        while True:
            message = self.recv()
            assert message is not None, f"closed while waiting for {kind.__name__}"
            if isinstance(message, kind):
                return message

    def closed(self, timeout_s: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout_s
        self.sock.settimeout(timeout_s)
        try:
            while time.monotonic() < deadline:
                if self.recv() is None:
                    return True
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
        return False


@pytest.mark.parametrize(
    "bad",
    [
        {"finished": 1e300},
        {"started": float("nan")},
        {"finished": float("inf")},
        {"started": -5.0},
        {"peak_memory_bytes": -1},
        {"memory_available_bytes": 2**63},
        {"error": "x" * 70_000},
    ],
    ids=lambda bad: ",".join(bad),
)
def test_an_impossible_result_closes_the_session_and_is_not_stored(
    farm: Farm, bad: dict[str, Any]
) -> None:
    node = RawNode(farm, "liar")
    job = farm.submit(title="victim", command=["true"])
    assign = node.expect(p.Assign)
    now = time.time()
    fields: dict[str, Any] = {"started": now, "finished": now, "exit_code": 0, **bad}
    node.send(p.Result(ref=assign.ref, ok=True, **fields))
    assert node.closed(), "the dispatcher kept a session that sent an impossible value"
    tasks = farm.chunks(job["id"])  # answered, never 500
    assert tasks[0]["state"] != "done" and tasks[0]["time_finished"] is None, tasks
    log = (farm.data_dir.parent / f"{farm.data_dir.name}-dispatcher.log").read_text()
    assert "action=session_closed node=liar" in log


def test_numbers_longer_than_any_id_are_404_or_400_never_500(farm: Farm) -> None:
    """A run of digits too long for int() (over 4,300) or written '--1' names no id:
    a clear 404 or 400, not a ValueError and 500."""
    job = farm.submit(title="one", paused=True)
    huge = "9" * 5000
    answers = {
        f"/api/v1/jobs/{huge}": 404,
        f"/api/v1/jobs/{job['id']}/tasks/{huge}": 404,
        f"/api/v1/jobs/{job['id']}/tasks/0/log?attempt={huge}": 400,
        f"/api/v1/nodes/{huge}": 404,
        f"/api/v1/jobs/?parent={huge}": 400,
        f"/api/v1/jobs/?parent=-{huge}": 400,
        f"/api/v1/jobs/?limit={huge}": 400,
        f"/api/v1/jobs/?template={huge}": 200,
        "/api/v1/jobs/?template=--1": 200,
    }
    for path, status in answers.items():
        try:
            assert farm.request("GET", path) == [], path[:60]
            got = 200
        except ApiError as exc:
            got = exc.status
        assert got == status, (path[:60], got)
    error = refused(farm, "POST", "/api/v1/jobs/", {"title": "t", "template": "--1"})
    assert error.status == 400 and error.body["field"] == "template", error.body
    assert [item["id"] for item in farm.request("GET", "/api/v1/jobs/")] == [job["id"]]


def test_a_number_too_long_to_read_is_400_login_included(farm: Farm) -> None:
    """json.loads raises a plain ValueError (not a JSONDecodeError) for an integer of
    more than 4,300 digits: that is bad input, 400, not a 500."""
    huge = "1" + "0" * 5000
    for path, body in (
        ("/api/v1/jobs/", '{"title": "t", "command": ["true"], "priority": ' + huge + "}"),
        ("/api/v1/login", '{"username": "admin", "password": ' + huge + "}"),
    ):
        status, kind, answer = raw_request(farm, "POST", path, body.encode())
        assert status == 400 and kind.startswith("application/problem+json"), (path, answer)
        assert "digits" in str(answer), answer
    assert farm.request("GET", "/api/v1/jobs/") == []
