"""The API document: GET /api/v1/openapi.json (OpenAPI 3.1) and GET /api/docs.

Both are built from the route declarations (dispatcher/web/endpoint.py), never
written by hand: each declared route becomes one operation with its path
parameters, its query model as parameters, its body and answer types as
schemas (pydantic's JSON Schema, the very types the routes validate with), its
permission, and the problem+json answers it can give. The document is built
once per application, on its first request (the routes are fixed by then).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import TypeAdapter

from dispatcher.web.apipage import render_page
from dispatcher.web.app import json_response
from dispatcher.web.endpoint import Endpoint, Routes, declared_endpoints

routes = Routes("documentation")

API_VERSION = "1"
REF = "#/components/schemas/{model}"
_PART = re.compile(r"\{(\w+)(?::[^}]*)?\}")

# What a path part names, wherever it appears.
PART_DESCRIPTIONS = {
    "job": "a job's id, or its title",
    "node": "a node's id, or its name",
    "chunk": "a chunk's index in its job (0 is the first)",
    "action": "the action to run",
}

# The problem+json answers, and when a route can give each.
ERRORS = {
    400: "the request is malformed or a field is invalid (`field` names it)",
    401: "no valid token (bearer header, `authToken` parameter or session cookie)",
    403: "the user lacks the permission the route needs",
    404: "no such job, node, chunk or action",
    409: "the change conflicts with the farm's state",
    413: "the body is larger than the dispatcher's `max_request_bytes`",
    405: "the method does not fit what the request asks (a change asked by GET)",
    406: "the answer cannot be given in the format asked for (JSON only)",
    422: "refused by a template's validation hook, or past a limit",
    429: "too many failed logins from this address; `Retry-After` says when to try again",
    503: "the store cannot write now; `Retry-After` says when to ask again",
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An RFC 9457 problem: what went wrong, for people and for programs.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "field": {"type": "string", "description": "the field that is wrong, when one is"},
        "limit": {"description": "the limit that was passed (422)"},
        "value": {"description": "the value that passed it (422)"},
        "cause": {"type": "string", "description": "why the store cannot write (503)"},
    },
    "required": ["type", "title", "status", "detail"],
}


def error_statuses(endpoint: Endpoint) -> list[int]:
    """The problem+json answers a route can give, from its declaration."""
    statuses = [400]
    if not endpoint.public:
        statuses += [401, 403, 404]
    if endpoint.method != "GET":
        statuses += [409, 422]
    if endpoint.body is not None:
        statuses.append(413)
    if endpoint.method != "GET" and not endpoint.public:
        statuses.append(503)
    return sorted(set(statuses) | set(endpoint.errors))


def path_parameters(path: str) -> list[str]:
    """The names of a route's `{parts}`, in order."""
    return [match.group(1) for match in _PART.finditer(path)]


def openapi_path(path: str) -> str:
    """aiohttp's `{name:regex}` written as OpenAPI's `{name}`."""
    return _PART.sub(lambda match: "{" + match.group(1) + "}", path)


# -- schemas ----------------------------------------------------------------------


@dataclass
class _Schemas:
    """Every type the routes declare, turned into JSON Schema in one pass so that two
    models of one name in different modules get distinct component names."""

    inputs: list[tuple[Any, str, TypeAdapter[Any]]] = field(default_factory=list)
    found: dict[tuple[Any, str], dict[str, Any]] = field(default_factory=dict)
    components: dict[str, Any] = field(default_factory=dict)

    def want(self, kind: Any, mode: str) -> None:
        if kind is None or kind is bytes:
            return
        key = (_key(kind), mode)
        if all(entry[:2] != key for entry in self.inputs):
            self.inputs.append((key[0], mode, TypeAdapter(kind)))

    def build(self) -> None:
        found, definitions = TypeAdapter.json_schemas(self.inputs, ref_template=REF)  # type: ignore[arg-type]
        self.found = {key: dict(schema) for key, schema in found.items()}
        self.components = dict(definitions.get("$defs", {}))

    def of(self, kind: Any, mode: str) -> dict[str, Any]:
        if kind is None:
            return {}
        if kind is bytes:
            return {"type": "string", "format": "binary"}
        return self.found[(_key(kind), mode)]

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        ref = schema.get("$ref", "")
        if ref.startswith("#/components/schemas/"):
            return self.components[ref.rsplit("/", 1)[1]]
        return schema


def _key(kind: Any) -> Any:
    """A hashable key for a declared type (`JobSpec | list[JobSpec]` is hashable, a dict
    type with Any may not be on every Python)."""
    try:
        hash(kind)
        return kind
    except TypeError:
        return repr(kind)


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional query parameter's schema: absent means None, so null is not sent."""
    options = schema.get("anyOf")
    if options:
        kept = [option for option in options if option.get("type") != "null"]
        if len(kept) == 1:
            rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
            return {**kept[0], **rest}
    return {k: v for k, v in schema.items() if k != "default" or v is not None}


# -- operations -------------------------------------------------------------------


def _parameters(endpoint: Endpoint, schemas: _Schemas) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for name in path_parameters(endpoint.path):
        declared = (endpoint.params or {}).get(name)
        schema = TypeAdapter(declared).json_schema() if declared else {"type": "string"}
        param = {"name": name, "in": "path", "required": True, "schema": schema}
        if name in PART_DESCRIPTIONS:
            param["description"] = PART_DESCRIPTIONS[name]
        params.append(param)
    if endpoint.query is not None:
        model = schemas.resolve(schemas.of(endpoint.query, "validation"))
        required = set(model.get("required", []))
        for name, schema in model.get("properties", {}).items():
            param = {"name": name, "in": "query", "required": name in required}
            description = schema.get("description")
            param["schema"] = _without_null({k: v for k, v in schema.items() if k != "title"})
            if description:
                param["description"] = description
            params.append(param)
    return params


def _operation(endpoint: Endpoint, schemas: _Schemas, operation_id: str) -> dict[str, Any]:
    description = endpoint.description
    if endpoint.permission is not None:
        needs = f"Needs the `{endpoint.permission.value}` permission."
        description = f"{description}\n\n{needs}".strip()
    operation: dict[str, Any] = {
        "tags": [endpoint.tag],
        "summary": endpoint.summary,
        "operationId": operation_id,
    }
    if description:
        operation["description"] = description
    params = _parameters(endpoint, schemas)
    if params:
        operation["parameters"] = params
    if endpoint.body is not None:
        kind = "application/octet-stream" if endpoint.body is bytes else "application/json"
        body = schemas.of(endpoint.body, "validation")
        nullable = any(option.get("type") == "null" for option in body.get("anyOf", []))
        operation["requestBody"] = {"required": not nullable, "content": {kind: {"schema": body}}}
    success: dict[str, Any] = {"description": _success(endpoint.status)}
    if endpoint.status != 204:
        answer = schemas.of(endpoint.answer, "serialization")
        success["content"] = {endpoint.content_type: {"schema": answer}}
    responses: dict[str, Any] = {str(endpoint.status): success}
    for status in error_statuses(endpoint):
        if endpoint.envelope is None:
            responses[str(status)] = {"$ref": f"#/components/responses/Problem{status}"}
        else:  # the route's own error answers (Muster's envelope), JSON all the same
            schema = schemas.of(endpoint.envelope, "serialization")
            responses[str(status)] = {
                "description": ERRORS[status],
                "content": {"application/json": {"schema": schema}},
            }
    operation["responses"] = responses
    operation["security"] = [] if endpoint.public else [{"bearer": []}]
    operation["x-permission"] = endpoint.permission.value if endpoint.permission else None
    return operation


def _success(status: int) -> str:
    return {201: "created", 204: "done; no body"}.get(status, "the answer")


def build_document(app: web.Application) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every declared route of `app`."""
    endpoints = declared_endpoints(app)
    schemas = _Schemas()
    for endpoint in endpoints:
        schemas.want(endpoint.body, "validation")
        schemas.want(endpoint.query, "validation")
        schemas.want(endpoint.answer, "serialization")
        schemas.want(endpoint.envelope, "serialization")
    schemas.build()
    paths: dict[str, dict[str, Any]] = {}
    used_ids: set[str] = set()
    for endpoint in endpoints:
        operation_id = f"{endpoint.tag}.{endpoint.handler.__name__}"
        while operation_id in used_ids:
            operation_id += "_"
        used_ids.add(operation_id)
        item = paths.setdefault(openapi_path(endpoint.path), {})
        item[endpoint.method.lower()] = _operation(endpoint, schemas, operation_id)
    tags = sorted({endpoint.tag for endpoint in endpoints})
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Corral dispatcher REST API",
            "version": API_VERSION,
            "description": "Jobs, chunks, nodes and the rest of a Corral render farm. Every "
            "route but the public ones needs `Authorization: Bearer TOKEN`; errors are "
            "problem+json.",
        },
        "tags": [{"name": tag} for tag in tags],
        "paths": paths,
        "components": {
            "schemas": {**schemas.components, "Problem": PROBLEM_SCHEMA},
            "responses": {
                f"Problem{status}": {
                    "description": text,
                    "content": {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"}
                        }
                    },
                }
                for status, text in ERRORS.items()
            },
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a token from POST /api/v1/login or DATA_DIR/admin.token",
                }
            },
        },
        "security": [{"bearer": []}],
    }


# -- the routes -------------------------------------------------------------------


@dataclass
class _Built:
    """The document and the page, made on the first request (the routes are fixed then)."""

    document: dict[str, Any] | None = None
    page: str | None = None


BUILT: web.AppKey[_Built] = web.AppKey("openapi_built", _Built)


def document_of(app: web.Application) -> dict[str, Any]:
    built = app[BUILT]
    if built.document is None:
        built.document = build_document(app)
    return built.document


@routes.get("/api/v1/openapi.json", public=True, answer=dict[str, Any])
async def openapi_document(request: web.Request) -> web.Response:
    """This document: every route, its parameters, bodies, answers and permission."""
    return json_response(document_of(request.app))


@routes.get("/api/docs", public=True, answer=str, content_type="text/html")
async def api_page(request: web.Request) -> web.Response:
    """The API document as a page to read, made by the dispatcher (no outside scripts)."""
    built = request.app[BUILT]
    if built.page is None:
        built.page = render_page(document_of(request.app))
    return web.Response(text=built.page, content_type="text/html", charset="utf-8")


def add_routes(app: web.Application) -> None:
    app[BUILT] = _Built()
    routes.add_to(app)
