"""The contract of every declared REST route, table-driven from the API document.

For each operation of /api/v1/openapi.json, against a real dispatcher with a real
render client: no token, a garbage token and a token of another scheme answer 401; a
user without the route's declared permission (logged in with POST /api/v1/login)
answers 403; a body of wrong types, with an unknown field, not JSON or over the size
limit answers 4xx (413 for the size); ids that name nothing answer 400 or 404; and
after all that the farm is unchanged (the jobs, the nodes and the action log). A route
that another module adds is covered as soon as it is declared.
"""

from __future__ import annotations

import asyncio
import json
import re
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
from tests.integration.fuzzkit import Answer, http_request
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
        """`template` with each part a real value (or `bad` in place of the part named so)."""
        out = template
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
        return http_request(self.farm.url, method, path, token=token, body=body, headers=headers)


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
        farm.submit(title="contract folder", kind="folder")
        samples = {"job": str(job["id"]), "node": str(node["id"]), "chunk": "0"}
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


def problem_of(answer: Answer, status: int | range, what: str) -> dict[str, Any]:
    """The answer is problem+json with that status (or one in the range)."""
    ok = answer.status in status if isinstance(status, range) else answer.status == status
    assert ok, f"{what}: answered {answer.status}, wanted {status}: {answer.body[:300]!r}"
    assert answer.content_type == "application/problem+json", f"{what}: {answer.content_type}"
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


@pytest.mark.parametrize(
    ("method", "template", "operation"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS]
)
def test_every_route_keeps_its_contract(
    target: Target, method: str, template: str, operation: dict[str, Any]
) -> None:
    before = target.snapshot()
    path = target.path(template, operation)
    what = f"{method} {path}"
    public = operation["security"] == []

    if not public:
        problem_of(target.send(method, path, token=None), 401, f"{what} without a token")
        for garbage in ("garbage", "x" * 64, "admin"):
            problem_of(target.send(method, path, token=garbage), 401, f"{what} token {garbage!r}")
        basic = [(b"Authorization", b"Basic YWRtaW46YWRtaW4=")]
        problem_of(target.send(method, path, token=None, headers=basic), 401, f"{what} Basic")

    permission = operation.get("x-permission")
    if permission is not None:
        token = target.lacking[permission]
        answer = target.send(method, path, token=token, body=b"{}")
        if _known_parts(operation, target.samples):
            problem = problem_of(answer, 403, f"{what} by a user without {permission}")
            assert permission in problem["detail"], problem
        else:  # a part this test has no real value for: the lookup may come first
            problem_of(answer, range(403, 405), f"{what} by a user without {permission}")
    elif not public:
        assert method == "GET", f"{what} changes the farm but declares no permission"
        answer = target.send(method, path, token=target.lacking["nothing"])
        assert answer.status != 403, f"{what} needs a permission it does not declare"

    if "requestBody" in operation:
        for case, body in body_cases(operation):
            problem_of(target.send(method, path, body=body), CLIENT_ERRORS, f"{what} {case}")
        huge = json.dumps({"title": "x" * (MAX_BODY + 1)}).encode()
        problem_of(target.send(method, path, body=huge), 413, f"{what} with an oversized body")

    for param in operation.get("parameters", []):
        if param["in"] != "path":
            continue
        for bad in (bad for bad in BAD_IDS if bad != target.samples.get(param["name"])):
            bad_path = target.path(template, operation, bad=f"{param['name']}={bad}")
            answer = target.send(
                method, bad_path, body=b"{}" if "requestBody" in operation else None
            )
            problem_of(answer, range(400, 405), f"{method} {bad_path[:120]}")
            assert answer.status in (400, 404), f"{method} {bad_path[:120]}: {answer.status}"

    assert target.snapshot() == before, f"{what}: a refused request changed the farm"


def test_the_table_covers_every_declared_route() -> None:
    """The parametrization above is the document's operations, one each."""
    app = make_app(SimpleNamespace(), max_request_bytes=1024)  # type: ignore[arg-type]
    routes = {(r.method, r.resource.canonical) for r in app.router.routes() if r.method != "HEAD"}
    assert {(m, p) for m, p, _ in OPERATIONS} == routes


def _token_lifetime_setting() -> tuple[str, float] | None:
    """The setting that makes tokens expire, once the dispatcher has one."""
    for name, info in Settings.model_fields.items():
        if "token" in name and any(word in name for word in ("ttl", "expir", "lifetime")):
            low = next((getattr(m, "ge", None) or getattr(m, "gt", None)
                        for m in info.metadata if hasattr(m, "ge") or hasattr(m, "gt")), None)  # fmt: skip
            return name, max(float(low or 0), 1.0)
    return None


async def test_an_expired_token_is_refused_on_every_route(tmp_path: Path) -> None:
    found = _token_lifetime_setting()
    if found is None:
        print("token expiry: the dispatcher has no token lifetime setting yet; skipped")
        pytest.skip("tokens do not expire in this build (no token lifetime setting)")
    name, lifetime_s = found
    async with live_dispatcher(tmp_path / "data", **{name: lifetime_s}) as live:
        token = await live.user("expiring", *[p.value for p in Permission])
        await live.rest("GET", "/api/v1/jobs/", token=token)  # valid while fresh
        await asyncio.sleep(lifetime_s + 1.0)
        for method, template, operation in OPERATIONS:
            if operation["security"] == []:
                continue
            path = re.sub(r"\{\w+\}", "1", template)
            url = live.dispatcher.http_url + path
            headers = {"Authorization": f"Bearer {token}"}
            async with live.session.request(method, url, headers=headers) as answer:
                assert answer.status == 401, f"{method} {path} with an expired token"
