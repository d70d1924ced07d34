"""Schema-driven fuzzing of every operation of /api/v1/openapi.json with schemathesis,
against a real dispatcher that has a live node.

The document is the one the dispatcher serves. For each operation, cases are drawn from
its schema, valid ones and ones that break it (schemathesis' positive and negative
modes), and sent with the admin's token and with none. The oracle: no 5xx; each
status, content type and problem+json body is one the document declares; without a
token every route but the public ones answers 401. `make test` sends a few cases per
operation, `make fuzz` (CORRAL_FUZZ=long) many; the count is printed at the end.

Left out, because a random case must not run them:
- POST /api/v1/scripts/run: runs any Python in the dispatcher with its authority;
- the node actions `run-python` (any Python on a render node) and `reset-key` (the node
  could not prove itself again, and the rest of the run would fuzz a farm without one).
The document is narrowed for that in the test's own copy; everything else is fuzzed,
the destructive job routes included (on the test's own jobs).

Streams are answers without an end by design, so a case must cut them: the event
stream (text/event-stream) is read for STREAM_S seconds and judged on what came, and
a log follow (`follow`) is cut to FOLLOW_S seconds (its `follow_s`, when the case left
it out or asked for longer; a `follow_s` that is no number is sent as drawn).
"""

from __future__ import annotations

import copy
import json
import urllib.request
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from dispatcher.web.app import make_app
from dispatcher.web.openapi import build_document
from tests.integration.farm import Farm
from tests.integration.fuzzkit import FakeNode, Tally, Watched, examples, report, terminal_line

pytestmark = [pytest.mark.integration, pytest.mark.fuzz]

UNSAFE_OPERATIONS = {("POST", "/api/v1/scripts/run")}
UNSAFE_NODE_ACTIONS = {"run-python", "reset-key"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]  # fmt: skip

_DOCUMENT = build_document(make_app(SimpleNamespace(), max_request_bytes=1024))  # type: ignore[arg-type]
OPERATIONS = sorted(
    (method.upper(), path)
    for path, item in _DOCUMENT["paths"].items()
    for method in item
    if (method.upper(), path) not in UNSAFE_OPERATIONS
)
NODE_NAME = "openapi-node"
SAMPLE_JOBS: dict[str, dict[str, Any]] = {
    "fuzz job": {"frames": "1-6", "command": ["true"], "paused": True},
    "fuzz folder": {"kind": "folder"},
}
TOTAL = Tally("REST/openapi all operations")
STREAM_S = 2.0
FOLLOW_S = 2.0


def _streams(raw: dict[str, Any]) -> bool:
    """True for an operation whose success answer is a server-sent event stream."""
    return any("text/event-stream" in answer.get("content", {})
               for answer in raw.get("responses", {}).values())  # fmt: skip


def cut_follow(case: Any) -> None:
    """A case that follows a log ends after FOLLOW_S seconds at the latest."""
    query = case.query
    if not isinstance(query, dict) or "follow" not in query:
        return
    try:
        asked = float(query.get("follow_s", "inf"))
    except (TypeError, ValueError):
        return  # not a number: refused at once, as drawn
    if not asked <= FOLLOW_S:  # longer, absent, or NaN
        query["follow_s"] = FOLLOW_S


def narrowed(document: dict[str, Any], samples: dict[str, list[str]]) -> dict[str, Any]:
    """The served document without the unsafe operations, and with the farm's real ids
    offered beside any string for each path part (so that cases reach real objects)."""
    document = copy.deepcopy(document)
    for method, path in UNSAFE_OPERATIONS:
        document["paths"].get(path, {}).pop(method.lower(), None)
    for path, item in document["paths"].items():
        for operation in item.values():
            for param in operation.get("parameters", []):
                if param["in"] != "path":
                    continue
                schema = param["schema"]
                if path.startswith("/api/v1/nodes/") and param["name"] == "action":
                    schema["enum"] = [a for a in schema["enum"] if a not in UNSAFE_NODE_ACTIONS]
                elif param["name"] in samples:
                    param["schema"] = {"anyOf": [{"enum": samples[param["name"]]}, schema]}
    return document


class Target:
    """The dispatcher under fuzz, a live fake node, and the schema loaded from the document."""

    def __init__(self, farm: Farm) -> None:
        self.farm = farm
        self.watched = Watched(farm).baseline()
        self.node = FakeNode(farm, NODE_NAME)
        self.restore()
        # By name: a deleted sample is made again under the same name (see restore).
        samples = {"job": list(SAMPLE_JOBS), "node": [NODE_NAME], "chunk": ["0", "1", "5"]}
        with urllib.request.urlopen(farm.url + "/api/v1/openapi.json", timeout=30) as answer:
            served = json.loads(answer.read())  # no token: the document is public
        self.schema = schemathesis.openapi.from_dict(narrowed(served, samples))

    def restore(self) -> None:
        """Make the sample jobs and the node again when a fuzzed DELETE took them away."""
        titles = {job["title"] for job in self.farm.request("GET", "/api/v1/jobs/")}
        for title, spec in SAMPLE_JOBS.items():
            if title not in titles:
                self.farm.submit(title=title, **spec)
        if not any(node["online"] for node in self.farm.nodes()):
            self.node.close()
            self.node = FakeNode(self.farm, NODE_NAME)
            self.farm.wait_nodes(1)

    def close(self) -> None:
        self.node.close()


@pytest.fixture(scope="module")
def target(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Target]:
    farm = Farm(tmp_path_factory.mktemp("fuzz-openapi") / "farm").start()
    made = None
    try:
        made = Target(farm)
        yield made
        made.watched.check_up()
        made.watched.check_log()  # no traceback in the dispatcher's log
    finally:
        if made is not None:
            made.close()
        farm.close()
        terminal_line(request, TOTAL.line())
        print(TOTAL.line())


@pytest.fixture
def tally(request: pytest.FixtureRequest) -> Iterator[Tally]:
    tally = Tally(f"REST/openapi {request.node.callspec.id}")
    yield tally
    report(request, tally)


@pytest.mark.parametrize("token", ["admin", "none"])
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_from_the_schema(
    target: Target, tally: Tally, method: str, path: str, token: str
) -> None:
    operation = target.schema[path][method]
    public = operation.definition.raw.get("security") == []
    # (connect, read): schemathesis reads an event stream until the read half has passed.
    timeout = (30.0, STREAM_S) if _streams(operation.definition.raw) else 30.0
    headers = {"Authorization": f"Bearer {target.farm.token}"} if token == "admin" else {}
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @examples(4)
    @given(case=cases)
    def run(case: Any) -> None:
        cut_follow(case)
        response = case.call(base_url=target.farm.url, headers=headers, timeout=timeout)
        for count in (tally, TOTAL):
            count.sent(f"{method} {path}", f"{response.status_code // 100}xx")
            count.server_errors += response.status_code >= 500
        case.validate_response(response, checks=CHECKS)
        if token == "none" and not public:
            assert response.status_code == 401, f"{case.method} {case.path}: no token got through"

    run()
    try:
        target.watched.check_up()
        target.restore()
    except AssertionError:
        tally.crashes += 1
        TOTAL.crashes += 1
        raise
