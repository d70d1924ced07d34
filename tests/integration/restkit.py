"""Helpers for the REST resource tests: raw requests that never raise, the farm's
observable state (to show a refused request changed nothing), and the bad-input
cases every write endpoint is put through."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from tests.integration.farm import Farm
from tests.integration.hookfarm import script_json

MAX_REQUEST_BYTES = 65_536
"""The farms of these tests take at most this much per request body (413 past it)."""


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def field(self) -> str | None:
        return self.body.get("field") if isinstance(self.body, dict) else None


def call(
    farm: Farm,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = None,
    raw: bytes | None = None,
    content_type: str = "application/json",
) -> Answer:
    """One request; the answer whatever its status. `token=""` sends none."""
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(farm.url + path, data=data, method=method)
    request.add_header("Content-Type", content_type)
    token = farm.token if token is None else token
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text, headers = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        status, text, headers = exc.code, exc.read(), dict(exc.headers)
    decoded = text.decode("utf-8", "replace")
    kind = headers.get("Content-Type", "")
    value = json.loads(decoded) if decoded and "json" in kind else decoded
    return Answer(status, value, headers)


def ok(farm: Farm, method: str, path: str, body: Any = None, status: int = 200, **kw: Any) -> Any:
    """The body of a request that must answer `status`."""
    answer = call(farm, method, path, body, **kw)
    assert answer.status == status, f"{method} {path}: {answer.status} {answer.body}"
    return answer.body


def actions(farm: Farm) -> list[str]:
    """The action log's lines (every change an operation made)."""
    path = farm.data_dir / "logs" / "actions.log"
    return path.read_text().splitlines() if path.exists() else []


def make_user(farm: Farm, name: str, *permissions: str) -> str:
    """A user made through POST /api/v1/users/, logged in through POST /api/v1/login."""
    password = f"{name}-password-1"
    body = {"name": name, "password": password, "permissions": list(permissions)}
    ok(farm, "POST", "/api/v1/users/", body, 201)
    login = ok(farm, "POST", "/api/v1/login", {"username": name, "password": password})
    assert login["permissions"] == sorted(permissions)
    token: str = login["token"]
    return token


def state(farm: Farm) -> dict[str, Any]:
    """What the resource routes can change, read through other routes and the hook API."""
    paths = [
        "/api/v1/jobs/",
        "/api/v1/pools/",
        "/api/v1/repositories/",
        "/api/v1/users/",
        "/api/v1/groups/",
        "/api/v1/system/engine",
        "/api/v1/system/configuration",
        "/api/v1/system/ldap",
        "/api/v1/logs/",
        "/api/v1/nodes/",
    ]
    seen: dict[str, Any] = {path: ok(farm, "GET", path) for path in paths}
    for node in seen["/api/v1/nodes/"]:  # what changes with every heartbeat is left out
        for moving in ("resources", "last_seen", "connected_since"):
            node.pop(moving, None)
    seen["dispatcher log"] = ok(farm, "GET", "/api/v1/logs/dispatcher")
    seen["api users"] = script_json(
        farm,
        "import json, MDispatcherAPI\n"
        "err, users = MDispatcherAPI.userGetList()\n"
        "print(json.dumps(sorted(u.to_dict()['name'] for u in users)))",
    )
    return seen


def wrong_type(body: dict[str, Any]) -> dict[str, Any]:
    """`body` with its first field of a type no field takes (a list of lists)."""
    first = next(iter(body))
    return {**body, first: [[1]]}


@dataclass(frozen=True)
class Write:
    """A write endpoint, a body it accepts, and the answer a submit-only user gets."""

    method: str
    path: str
    body: dict[str, Any] | None
    missing: str | None = None  # the same path with an id that names nothing (404)
    submitter: int = 403

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def check_refusals(farm: Farm, write: Write, submitter_token: str) -> None:
    """Every bad variant of `write` gets its status (and names the field where one is
    wrong) and changes nothing: the state and the action log stay as they were."""
    before, logged = state(farm), actions(farm)
    cases: list[tuple[str, Answer, int, str | None]] = []
    if write.body is not None:
        bad = wrong_type(write.body)
        cases.append(
            ("wrong type", call(farm, write.method, write.path, bad), 400, next(iter(bad)))
        )
        extra = {**write.body, "no_such_field": 1}
        cases.append(
            ("unknown field", call(farm, write.method, write.path, extra), 400, "no_such_field")
        )
        big = {**write.body, "padding": "x" * (MAX_REQUEST_BYTES + 1)}
        cases.append(("oversized", call(farm, write.method, write.path, big), 413, None))
        cases.append(("not JSON", call(farm, write.method, write.path, raw=b"{nope"), 400, None))
        cases.append(("a list", call(farm, write.method, write.path, [write.body]), 400, None))
    if write.missing is not None:
        cases.append(("invalid id", call(farm, write.method, write.missing, write.body), 404, None))
    cases.append(
        ("no token", call(farm, write.method, write.path, write.body, token=""), 401, None)
    )
    cases.append(
        ("bad token", call(farm, write.method, write.path, write.body, token="nope"), 401, None)
    )
    if write.submitter:
        answer = call(farm, write.method, write.path, write.body, token=submitter_token)
        cases.append(("submit-only user", answer, write.submitter, None))
    for what, answer, status, field in cases:
        assert answer.status == status, f"{write} {what}: {answer.status} {answer.body}"
        assert "json" in answer.headers.get("Content-Type", ""), f"{write} {what}: {answer.headers}"
        assert answer.body["status"] == status and answer.body["detail"], f"{write} {what}"
        if field is not None:
            assert answer.field == field, f"{write} {what}: {answer.body}"
    assert actions(farm) == logged, f"{write}: a refused request was logged as an action"
    assert state(farm) == before, f"{write}: a refused request changed the farm"
