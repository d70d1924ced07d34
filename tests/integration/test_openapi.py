"""The API document: every route of the application is declared and in it, it is valid
OpenAPI 3.1, the dispatcher serves it and a page of it without a token, and the page
loads nothing from elsewhere."""

from __future__ import annotations

import html
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from openapi_spec_validator import validate

from dispatcher.jobspec import JobSpec
from dispatcher.web.app import make_app
from dispatcher.web.endpoint import endpoint_of
from dispatcher.web.openapi import build_document, openapi_path
from tests.integration.inprocess import live_dispatcher

pytestmark = pytest.mark.integration


def app_and_document() -> tuple[Any, dict[str, Any]]:
    app = make_app(SimpleNamespace(), max_request_bytes=1024)  # type: ignore[arg-type]
    return app, build_document(app)


def walk(app: Any, document: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The routes of `app` without a Routes declaration, and the declared routes that
    `document` lacks, each as "METHOD /path"."""
    missing, undeclared = [], []
    for route in app.router.routes():
        if route.method == "HEAD":  # aiohttp adds one to every GET
            continue
        path = route.resource.canonical if route.resource is not None else "?"
        endpoint = endpoint_of(route.handler)
        if endpoint is None:
            undeclared.append(f"{route.method} {path}")
            continue
        operation = document["paths"].get(openapi_path(path), {}).get(route.method.lower())
        if operation is None:
            missing.append(f"{route.method} {path}")
    return missing, undeclared


def test_every_route_is_declared_and_in_the_document() -> None:
    app, document = app_and_document()
    missing, undeclared = walk(app, document)
    assert not undeclared, f"routes without a Routes declaration: {undeclared}"
    assert not missing, f"declared routes missing from /api/v1/openapi.json: {missing}"
    assert len(app.router.routes()) > 20  # the walk saw the real table


def test_an_undeclared_route_fails_the_walk() -> None:
    """The walk above can fail: a route added around the declarations is caught."""
    app = make_app(SimpleNamespace(), max_request_bytes=1024)  # type: ignore[arg-type]

    async def hidden(request: Any) -> Any:
        raise AssertionError("never called")

    app.router.add_get("/api/v1/hidden", hidden)
    route = next(r for r in app.router.routes() if r.resource.canonical == "/api/v1/hidden")
    assert endpoint_of(route.handler) is None
    assert "/api/v1/hidden" not in build_document(app)["paths"]
    missing, undeclared = walk(app, build_document(app))
    assert undeclared == ["GET /api/v1/hidden"] and missing == []


def test_the_document_is_valid_openapi_and_describes_the_routes() -> None:
    _, document = app_and_document()
    validate(document)  # raises on any violation of the OpenAPI 3.1 schema
    assert document["openapi"].startswith("3.1")
    submit = document["paths"]["/api/v1/jobs/"]["post"]
    schemas = document["components"]["schemas"]
    # The submission is JobSpec, field for field, whatever JobSpec holds today.
    assert set(schemas["JobSpec"]["properties"]) == set(JobSpec.model_fields)
    assert schemas["JobSpec"]["additionalProperties"] is False
    body = submit["requestBody"]["content"]["application/json"]["schema"]
    refs = {option.get("$ref") or option.get("items", {}).get("$ref") for option in body["anyOf"]}
    assert refs == {"#/components/schemas/JobSpec"}
    assert submit["responses"]["201"] and submit["x-permission"] == "submit"
    assert submit["security"] == [{"bearer": []}]
    assert set(submit["responses"]) >= {"400", "401", "403", "413", "422"}
    problem = submit["responses"]["400"]["$ref"].rsplit("/", 1)[1]
    assert "application/problem+json" in document["components"]["responses"][problem]["content"]
    login = document["paths"]["/api/v1/login"]["post"]
    # Public, yet it checks a password: a wrong one is 401, too many wrong ones 429.
    assert login["security"] == [] and {"401", "429"} <= set(login["responses"])
    assert "403" not in login["responses"]  # no token, so no permission to lack
    # Path parts, query models, enums of actions.
    action = document["paths"]["/api/v1/jobs/{job}/actions/{action}"]["post"]["parameters"]
    assert [p["name"] for p in action] == ["job", "action"]
    assert action[1]["schema"]["enum"] == ["pause", "resume", "reinit", "update-status", "update"]
    listing = document["paths"]["/api/v1/jobs/"]["get"]["parameters"]
    assert {"limit", "after", "state", "parent"} <= {p["name"] for p in listing}
    assert all(p["in"] == "query" and not p["required"] for p in listing)
    # Every $ref points at something that exists.
    text = repr(document)
    for name in set(re.findall(r"#/components/schemas/(\w+)", text)):
        assert name in schemas, name


def test_a_route_missing_from_the_document_is_noticed() -> None:
    """The coverage test's own oracle can fail: an operation taken out of the document
    (a route the generator forgot) is reported by the walk, and only that one."""
    app, document = app_and_document()
    assert walk(app, document) == ([], [])
    del document["paths"]["/api/v1/nodes/{node}"]["delete"]
    del document["paths"]["/api/v1/jobs/schema"]
    missing, undeclared = walk(app, document)
    assert sorted(missing) == ["DELETE /api/v1/nodes/{node}", "GET /api/v1/jobs/schema"]
    assert undeclared == []


async def test_the_dispatcher_serves_the_document_and_the_page_without_a_token(
    tmp_path: Path,
) -> None:
    async with live_dispatcher(tmp_path / "data") as live:
        base = live.dispatcher.http_url
        async with live.session.get(base + "/api/v1/openapi.json") as answer:
            assert answer.status == 200 and answer.content_type == "application/json"
            served = await answer.json()
        assert served == build_document(make_app(live.ops, max_request_bytes=1024))
        async with live.session.get(base + "/api/docs") as answer:
            assert answer.status == 200 and answer.content_type == "text/html"
            page = await answer.text()
        # Other routes still need the token.
        async with live.session.get(base + "/api/v1/jobs/") as answer:
            assert answer.status == 401

    validate(served)
    assert page.startswith("<!DOCTYPE html>")
    for path, item in served["paths"].items():
        assert f'<span class="path">{path}</span>' in page, path
        for operation in item.values():
            assert html.escape(operation["summary"]) in page
    for field in JobSpec.model_fields:  # the body's fields, in the JobSpec table
        assert f"<code>{field}</code>" in page, field
    for tag in served["tags"]:
        assert f'id="tag-{tag["name"]}"' in page
    # Self-contained: no script at all, nothing loaded from another host.
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "an outside link"
    assert "@import" not in page and "url(" not in page
