"""The contract of every declared REST route, table-driven from the API document.

For each operation of /api/v1/openapi.json, against a real dispatcher with a real
render client: no token, a garbage token and a token of another scheme answer 401; a
user without the route's declared permission (logged in with POST /api/v1/login)
answers 403; a body of wrong types, with an unknown field, not JSON or over the size
limit answers 4xx (413 for the size); ids that name nothing answer 400 or 404; and
after all that the farm is unchanged (the jobs, the nodes and the action log). A route
that another module adds is covered as soon as it is declared.

Routes whose errors are declared in another shape than problem+json (Muster's envelope)
are held to that shape. A stream (server-sent events) is judged by its status and
headers only: its body never ends. The few routes that change something without
declaring a permission are listed in UNDECLARED_WRITES, each with why and with its own
check of what the caller may and may not do there.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import re
import socket
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from dispatcher.auth import Permission
from dispatcher.config import Settings
from dispatcher.web.app import make_app
from dispatcher.web.openapi import build_document
from tests.integration.farm import Farm
from tests.integration.fuzzkit import Answer, request_bytes
from tests.integration.hookfarm import script_json
from tests.integration.inprocess import live_dispatcher

pytestmark = pytest.mark.integration

MAX_BODY = 65536
DOCUMENT = build_document(make_app(SimpleNamespace(), max_request_bytes=1024))  # type: ignore[arg-type]
OPERATIONS = [
    (method.upper(), path, operation)
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
]
BAD_IDS = ["0", "-1", "99999999", "9" * 40, "no such thing", "x" * 300, "%2e%2e", "1e3"]
ADMIN = "<the admin's token>"  # compared by identity
NODE_VOLATILE = {"last_seen", "connected_since", "resources", "address"}
STREAM = "text/event-stream"
# Values for required query parameters, so that a case reaches what it tests (the body's
# size, say) rather than stopping at the missing parameter.
QUERY_SAMPLES = {"name": "list", "start": "0", "end": "0"}
# Path values that name something real on a route by design, though they are among
# BAD_IDS: a folder's children of `0` or `-1` are those at the top of the tree.
VALID_PARTS = {("GET", "/api/v1/folders/{folder}/children", "folder"): {"0", "-1"}}


@dataclass
class Target:
    """The dispatcher under test, real ids to put in paths, and a token per missing permission."""

    farm: Farm
    samples: dict[str, str]
    lacking: dict[str, str] = field(default_factory=dict)  # permission -> token of a user without

    @property
    def actions_log(self) -> Path:
        return self.farm.data_dir / "logs" / "actions.log"

    def snapshot(self) -> Any:
        """What a refused request must not change: the jobs, the nodes, the action log."""
        jobs = self.farm.request("GET", "/api/v1/jobs/")
        nodes = [
            {k: v for k, v in node.items() if k not in NODE_VOLATILE}
            for node in self.farm.request("GET", "/api/v1/nodes/")
        ]
        log = self.actions_log.read_text() if self.actions_log.exists() else ""
        return jobs, nodes, log

    def path(self, template: str, operation: dict[str, Any], bad: str | None = None) -> str:
        """`template` with each part a real value (or `bad` in place of the part named so),
        and the required query parameters."""
        out = template
        required = [
            p["name"] for p in operation.get("parameters", [])
            if p["in"] == "query" and p["required"]
        ]  # fmt: skip
        if required:
            out += "?" + urllib.parse.urlencode({name: QUERY_SAMPLES[name] for name in required})
        for param in operation.get("parameters", []):
            if param["in"] != "path":
                continue
            name = param["name"]
            value = self.samples.get(name) or _first_enum(param["schema"]) or "1"
            if bad is not None and name == bad.split("=", 1)[0]:
                value = bad.split("=", 1)[1]
            quoted = value if value.startswith("%") else urllib.parse.quote(value, safe="")
            out = out.replace("{" + name + "}", quoted)
        return out

    def send(
        self, method: str, path: str, *, token: str | None = ADMIN, body: bytes | None = None,
        headers: list[tuple[bytes, bytes]] = (),  # type: ignore[assignment]
    ) -> Answer:  # fmt: skip
        token = self.farm.token if token is ADMIN else token
        extra = list(headers)
        if token is not None:
            extra.append((b"Authorization", b"Bearer " + token.encode()))
        if body is not None:
            extra.append((b"Content-Type", b"application/json"))
        raw = request_bytes(method.encode(), path.encode(), headers=extra, body=body)
        return send_raw(self.farm.url, raw)


def send_raw(base_url: str, raw: bytes, timeout_s: float = 20.0) -> Answer:
    """Send one request; the answer's status, headers and body, but for a stream (server-sent
    events) only its status and headers: its body never ends."""
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout_s) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(raw)  # the server may answer (413) before it read everything
        response = http.client.HTTPResponse(sock)
        try:
            response.begin()
        except (http.client.RemoteDisconnected, ConnectionResetError):
            return Answer(0, {}, b"")
        headers = {name.lower(): value for name, value in response.getheaders()}
        if headers.get("content-type", "").startswith(STREAM):
            return Answer(response.status, headers, b"")
        try:
            body = response.read()
        except http.client.IncompleteRead as exc:
            body = exc.partial
        return Answer(response.status, headers, body)


def _first_enum(schema: dict[str, Any]) -> str | None:
    values = schema.get("enum")
    return str(values[0]) if values else None


def _known_parts(operation: dict[str, Any], samples: dict[str, str]) -> bool:
    return all(
        p["name"] in samples or "enum" in p["schema"]
        for p in operation.get("parameters", [])
        if p["in"] == "path"
    )


USER_SCRIPT = """
import json, MDispatcherAPI
user = MDispatcherAPI.MUser(%(name)r)
user.setPassword(%(password)r)
user.setPermissions(%(permissions)r)
print(json.dumps(MDispatcherAPI.userAdd(user).getErrorCode()))
"""


def add_user(farm: Farm, name: str, permissions: set[str]) -> str:
    """A user made through the hook API, logged in over REST; their bearer token."""
    password = f"{name}-password"
    code = USER_SCRIPT % {"name": name, "password": password,
                          "permissions": ",".join(sorted(permissions))}  # fmt: skip
    assert script_json(farm, code) == 0
    answer = farm.request(
        "POST", "/api/v1/login", {"username": name, "password": password}, token=""
    )
    assert sorted(answer["permissions"]) == sorted(permissions), answer
    return str(answer["token"])


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    root = tmp_path_factory.mktemp("contract")
    farm = Farm(root / "farm", ["--max-request-bytes", str(MAX_BODY)]).start()
    try:
        farm.client("contract-node")
        node = farm.wait_nodes(1)[0]
        job = farm.submit(title="contract job", frames="1-4", command=["true"], paused=True)
        folder = farm.submit(title="contract folder", kind="folder")
        for kind, extra in (("pools", {"nodes": []}), ("repositories", {}), ("groups", {})):
            farm.request("POST", f"/api/v1/{kind}/", {"name": f"contract-{kind}", **extra})
        samples = {
            "job": str(job["id"]), "node": str(node["id"]), "chunk": "0",
            "folder": str(folder["id"]), "pool": "contract-pools",
            "repository": "contract-repositories", "group": "contract-groups",
            "user": "nobody",
            "name": "nobody",  # a user's name on the password route; names nothing elsewhere
        }  # fmt: skip
        target = Target(farm, samples)
        needed = {op.get("x-permission") for _, _, op in OPERATIONS} - {None}
        for permission in sorted(needed):
            # Every other permission but this one (administer would imply it).
            others = {p.value for p in Permission} - {permission, Permission.ADMINISTER.value}
            target.lacking[permission] = add_user(farm, f"without-{permission}", others)
        target.lacking["nothing"] = add_user(farm, "nobody", set())
        yield target
    finally:
        farm.close()


def error_type(operation: dict[str, Any]) -> str:
    """The content type the operation's errors are declared in (its 400 answer's)."""
    declared = operation["responses"]["400"]
    if "$ref" in declared:
        declared = DOCUMENT["components"]["responses"][declared["$ref"].rsplit("/", 1)[1]]
    return next(iter(declared["content"]))


def problem_of(
    answer: Answer, status: int | range, what: str, operation: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The answer is an error with that status (or one in the range), in the shape the
    operation declares: problem+json, or Muster's envelope (`detail` is its Description)."""
    ok = answer.status in status if isinstance(status, range) else answer.status == status
    assert ok, f"{what}: answered {answer.status}, wanted {status}: {answer.body[:300]!r}"
    kind = "application/problem+json" if operation is None else error_type(operation)
    assert answer.content_type == kind, f"{what}: {answer.content_type}, declared {kind}"
    if kind == "application/json":  # Muster's envelope, Code = the HTTP status
        envelope = json.loads(answer.body)
        head = envelope["ResponseStatus"]
        assert head["Code"] == answer.status and head["Description"], envelope
        assert envelope["ResponseData"] == {}, envelope
        return {"status": head["Code"], "detail": head["Description"]}
    problem = json.loads(answer.body)
    assert problem["status"] == answer.status and problem["detail"], problem
    return problem


CLIENT_ERRORS = range(400, 500)


def _wrong(schema: dict[str, Any]) -> Any:
    """A JSON value of another type than `schema` asks for (None: no type to contradict)."""
    kinds = {schema.get("type")} | {o.get("type") for o in schema.get("anyOf", [])}
    kinds.discard(None)
    if not kinds or "null" in kinds and len(kinds) == 1:
        return None
    for value in ({"wrong": True}, "wrong", [1, 2]):
        type_name = {dict: "object", str: "string", list: "array"}[type(value)]
        if type_name not in kinds:
            return value
    return None


def body_cases(operation: dict[str, Any]) -> list[tuple[str, bytes]]:
    """Bodies that must be refused: each field of another type, an unknown field, not JSON."""
    content = operation["requestBody"]["content"]
    kind, entry = next(iter(content.items()))
    if kind != "application/json":
        return []
    schema = entry["schema"]
    components = DOCUMENT["components"]["schemas"]
    objects = [schema] + schema.get("anyOf", [])
    models = [components[o["$ref"].rsplit("/", 1)[1]] for o in objects if "$ref" in o]
    cases: list[tuple[str, bytes]] = [("not JSON", b"{not json"), ("a JSON number", b"12")]
    for model in models:
        properties = model.get("properties", {})
        for name, prop in properties.items():
            if "$ref" in prop:
                prop = components[prop["$ref"].rsplit("/", 1)[1]]
            wrong = _wrong(prop)
            if wrong is not None:
                cases.append((f"{name} of a wrong type", json.dumps({name: wrong}).encode()))
        if model.get("additionalProperties") is False:
            required = {n: _valid(properties[n]) for n in model.get("required", [])}
            cases.append(
                ("an unknown field", json.dumps({**required, "no_such_field": 1}).encode())
            )
    return cases


def _valid(schema: dict[str, Any]) -> Any:
    """A plausible value for a required field, so that only the unknown field is wrong."""
    return {"string": "contract", "integer": 1, "number": 1, "boolean": False,
            "array": [], "object": {}}.get(schema.get("type", "string"), "contract")  # fmt: skip


def log_in(target: Target, name: str) -> str:
    """A new bearer token of a user `add_user` made."""
    answer = target.farm.request(
        "POST", "/api/v1/login", {"username": name, "password": f"{name}-password"}, token=""
    )
    return str(answer["token"])


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _forbidden(answer: Answer, permission: str, what: str, operation: dict[str, Any]) -> None:
    problem = problem_of(answer, 403, what, operation)
    assert permission in problem["detail"], problem


def _check_logout(target: Target, operation: dict[str, Any]) -> None:
    """Logging out revokes the token it came with, and no other."""
    token = log_in(target, "nobody")
    answer = target.send("POST", "/api/v1/logout", token=token)
    assert answer.status == 200 and json.loads(answer.body)["revoked"], answer
    assert target.send("GET", "/api/v1/jobs/", token=token).status == 401
    assert target.send("GET", "/api/v1/jobs/", token=target.lacking["nothing"]).status == 200


def _check_password(target: Target, operation: dict[str, Any]) -> None:
    """A user sets their own password with the old one; another user's needs administer."""
    nobody, same = target.lacking["nothing"], "nobody-password"
    body = _json({"password": same, "old_password": same})
    answer = target.send("POST", "/api/v1/users/admin/password", token=nobody, body=body)
    _forbidden(answer, "administer", "nobody sets admin's password", operation)
    answer = target.send(
        "POST", "/api/v1/users/nobody/password", token=nobody, body=_json({"password": same})
    )
    problem_of(answer, 400, "a password change without the old password", operation)
    answer = target.send("POST", "/api/v1/users/nobody/password", token=nobody, body=body)
    assert answer.status == 204, answer
    assert target.send("GET", "/api/v1/jobs/", token=nobody).status == 200  # still logged in


def _check_revoke(target: Target, operation: dict[str, Any]) -> None:
    """A user revokes their own token; another user's needs administer."""
    nobody = target.lacking["nothing"]
    tokens = json.loads(target.send("GET", "/api/v1/tokens/").body)
    admins = [token["id"] for token in tokens if token["user"] == "admin"]
    answer = target.send("DELETE", f"/api/v1/tokens/{admins[0]}", token=nobody)
    _forbidden(answer, "administer", "nobody revokes admin's token", operation)
    other = log_in(target, "nobody")
    mine = json.loads(target.send("GET", "/api/v1/tokens/", token=other).body)
    current = next(token["id"] for token in mine if token["current"])
    assert target.send("DELETE", f"/api/v1/tokens/{current}", token=nobody).status == 204
    assert target.send("GET", "/api/v1/jobs/", token=other).status == 401
    assert target.send("GET", "/api/v1/jobs/", token=nobody).status == 200


def _check_templates(target: Target, operation: dict[str, Any]) -> None:
    """Any user lists the templates by POST, as by GET."""
    answer = target.send("POST", "/api/templates/list", token=target.lacking["nothing"])
    assert answer.status == 200, answer
    assert json.loads(answer.body)["ResponseData"]["templates"], answer


def _check_nodes(target: Target, operation: dict[str, Any]) -> None:
    """Any user lists the render nodes by POST, as by GET."""
    answer = target.send("POST", "/api/nodes/list", token=target.lacking["nothing"])
    assert answer.status == 200, answer
    assert isinstance(json.loads(answer.body)["ResponseData"]["nodes"], list), answer


def _check_queue_actions(target: Target, operation: dict[str, Any]) -> None:
    """Each action asks for its own permission: submit for `submit`, manage_own on the job
    for pause, resume, reinit and delete; `list`, `chunks` and `log` none."""
    actions, job = "/api/queue/actions", target.samples["job"]
    submit = _json(
        {"RequestData": {"job": {"jobName": "contract muster", "templateId": "cmdline"}}}
    )
    answer = target.send(
        "POST", f"{actions}?name=submit", token=target.lacking["submit"], body=submit
    )
    _forbidden(answer, "submit", "a Muster submit without submit", operation)
    for action in ("pause", "resume", "reinit", "delete"):
        answer = target.send(
            "POST", f"{actions}?name={action}&jobId={job}", token=target.lacking["manage_own"]
        )
        _forbidden(answer, "manage_own", f"Muster {action} without manage_own", operation)
    for reads in ("list", f"chunks&jobId={job}"):
        answer = target.send("POST", f"{actions}?name={reads}", token=target.lacking["nothing"])
        assert answer.status == 200, answer


# Routes that change something yet declare no permission, by design, each with why and
# with the check that holds it instead of "a user without the permission gets 403".
UNDECLARED_WRITES: dict[tuple[str, str], tuple[str, Any]] = {
    ("POST", "/api/v1/logout"): (
        "anyone may revoke the token they came with", _check_logout),
    ("POST", "/api/v1/users/{name}/password"): (
        "anyone may set their own password (giving the old one); another user's needs "
        "administer, which the operation asks once it knows whose it is", _check_password),
    ("DELETE", "/api/v1/tokens/{id}"): (
        "anyone may revoke their own token; another user's needs administer", _check_revoke),
    ("POST", "/api/templates/list"): (
        "a read: Muster lists the templates by POST as well as by GET", _check_templates),
    ("POST", "/api/nodes/list"): (
        "a read: Muster-style lists answer POST as well as GET", _check_nodes),
    ("POST", "/api/queue/actions"): (
        "Muster's one route for every queue action: the permission depends on `name`",
        _check_queue_actions),
}  # fmt: skip


@pytest.mark.parametrize(
    ("method", "template", "operation"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS]
)
def test_every_route_keeps_its_contract(
    target: Target, method: str, template: str, operation: dict[str, Any]
) -> None:
    path = target.path(template, operation)
    what = f"{method} {path}"
    public = operation["security"] == []
    permission = operation.get("x-permission")
    undeclared = UNDECLARED_WRITES.get((method, template))
    if undeclared is not None:  # first: what it lets a user do changes the farm on purpose
        assert permission is None and not public, f"{what} is no exception any more"
        undeclared[1](target, operation)
    before = target.snapshot()

    if not public:
        for token, headers, case in [
            (None, [], "without a token"),
            ("garbage", [], "token 'garbage'"),
            ("x" * 64, [], "a token of 64 x"),
            ("admin", [], "token 'admin'"),
            (None, [(b"Authorization", b"Basic YWRtaW46YWRtaW4=")], "Basic"),
        ]:
            answer = target.send(method, path, token=token, headers=headers)
            problem_of(answer, 401, f"{what} {case}", operation)

    if permission is not None:
        token = target.lacking[permission]
        answer = target.send(method, path, token=token, body=b"{}")
        if _known_parts(operation, target.samples):
            _forbidden(answer, permission, f"{what} by a user without {permission}", operation)
        else:  # a part this test has no real value for: the lookup may come first
            problem_of(answer, range(403, 405), f"{what} by a user without {permission}", operation)
    elif not public and undeclared is None:
        assert method == "GET", f"{what} changes the farm but declares no permission"
        answer = target.send(method, path, token=target.lacking["nothing"])
        assert answer.status != 403, f"{what} needs a permission it does not declare"

    if "requestBody" in operation:
        for case, body in body_cases(operation):
            answer = target.send(method, path, body=body)
            problem_of(answer, CLIENT_ERRORS, f"{what} {case}", operation)
        huge = json.dumps({"title": "x" * (MAX_BODY + 1)}).encode()
        answer = target.send(method, path, body=huge)
        problem_of(answer, 413, f"{what} with an oversized body", operation)

    for param in operation.get("parameters", []):
        if param["in"] != "path":
            continue
        valid = {*VALID_PARTS.get((method, template, param["name"]), ()),
                 target.samples.get(param["name"])}  # fmt: skip
        for bad in (bad for bad in BAD_IDS if bad not in valid):
            bad_path = target.path(template, operation, bad=f"{param['name']}={bad}")
            answer = target.send(
                method, bad_path, body=b"{}" if "requestBody" in operation else None
            )
            problem_of(answer, range(400, 405), f"{method} {bad_path[:120]}", operation)
            assert answer.status in (400, 404), f"{method} {bad_path[:120]}: {answer.status}"

    assert target.snapshot() == before, f"{what}: a refused request changed the farm"


def _longest(schema: dict[str, Any]) -> str | None:
    """The longest value a string parameter may take, in the widest characters it allows
    (4 UTF-8 bytes, 12 once percent-encoded); None for a parameter without a bound."""
    length = schema.get("maxLength")
    if schema.get("type") != "string" or length is None:
        return None
    return ("1" if "pattern" in schema else "\U0001f600") * length


def test_the_longest_query_the_document_allows_reaches_its_route(target: Target) -> None:
    """Every bounded query parameter at its longest, percent-encoded, is read by the route
    and answered in the route's declared format, not refused as a too-long request line by
    the HTTP parser in plain text (aiohttp's default line limit is shorter than some)."""
    before = target.snapshot()
    tried = 0
    for method, template, operation in OPERATIONS:
        if method != "GET" or operation["security"] == []:
            continue
        longest = {
            p["name"]: value for p in operation.get("parameters", [])
            if p["in"] == "query" and (value := _longest(p["schema"])) is not None
        }  # fmt: skip
        if not longest:
            continue
        path = target.path(template, operation)
        query = urllib.parse.urlencode(longest)
        answer = target.send(method, path + ("&" if "?" in path else "?") + query)
        what = f"{method} {template} with {sorted(longest)} at their longest"
        assert answer.status != 0 and answer.status < 500, (what, answer.status)
        declared = operation["responses"].get(str(answer.status))
        assert declared is not None, f"{what}: answered {answer.status}: {answer.body[:200]!r}"
        if "$ref" in declared:
            declared = DOCUMENT["components"]["responses"][declared["$ref"].rsplit("/", 1)[1]]
        kinds = set(declared.get("content", {}))
        assert answer.content_type in kinds, f"{what}: {answer.content_type}, not {kinds}"
        tried += 1
    assert tried >= 2  # the Muster routes' `select` and `jobId` at least
    assert target.snapshot() == before


def test_the_table_covers_every_declared_route() -> None:
    """The parametrization above is the document's operations, one each."""
    app = make_app(SimpleNamespace(), max_request_bytes=1024)  # type: ignore[arg-type]
    routes = {(r.method, r.resource.canonical) for r in app.router.routes() if r.method != "HEAD"}
    assert {(m, p) for m, p, _ in OPERATIONS} == routes


def _shortest_token_lifetime_s() -> float:
    """The least `token_ttl_s` the settings allow (tokens live that long, then expire)."""
    info = Settings.model_fields["token_ttl_s"]
    bounds = [getattr(m, "ge", None) or getattr(m, "gt", None) for m in info.metadata]
    return max([float(b) for b in bounds if b is not None] + [1.0])


async def test_an_expired_token_is_refused_on_every_route(tmp_path: Path) -> None:
    name, lifetime_s = "token_ttl_s", _shortest_token_lifetime_s()
    async with live_dispatcher(tmp_path / "data", **{name: lifetime_s}) as live:
        token = await live.user("expiring", *[p.value for p in Permission])
        # Job 1 is real, so that the paths below (every id is 1) name something to change.
        job = await live.rest("POST", "/api/v1/jobs/", {"title": "kept", "command": ["true"],
                                                        "paused": True}, token=token)  # fmt: skip
        assert job["id"] == 1
        await asyncio.sleep(lifetime_s + 1.0)
        before = (await live.rest("GET", "/api/v1/jobs/"), len(live.actions()))
        for method, template, operation in OPERATIONS:
            if operation["security"] == []:
                continue
            path = re.sub(r"\{\w+\}", "1", template)
            url = live.dispatcher.http_url + path
            headers = {"Authorization": f"Bearer {token}"}
            async with live.session.request(method, url, headers=headers) as answer:
                assert answer.status == 401, f"{method} {path} with an expired token"
        assert (await live.rest("GET", "/api/v1/jobs/"), len(live.actions())) == before
