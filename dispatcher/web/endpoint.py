"""Routes declared with what they take and answer.

A module of routes makes one `Routes` table and declares each handler on it:

    routes = Routes("pools")

    @routes.post("/api/v1/pools/", body=PoolBody, answer=PoolView, status=201)
    async def add_pool(request: web.Request) -> web.Response:
        payload = await read_body(request)   # validated against PoolBody
        ...

`read_body` and `read_query` validate with the very types declared here, and
/api/v1/openapi.json is built from the same declarations, so the document and
the checks cannot drift apart. A route added to the application without a
declaration fails the OpenAPI coverage test.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pydantic
from aiohttp import web
from pydantic import BaseModel, TypeAdapter

from dispatcher import limits
from dispatcher.errors import ValidationError
from dispatcher.operations import Permission

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Endpoint:
    """One route: its method, path, handler and the types it validates with.

    `body` is any type pydantic validates (a model, `list[Model]`, a union);
    `bytes` means a raw body (text/plain or a file), `None` no body. `query` is
    a model of the query parameters. `answer` is the success body's type when
    it has a fixed shape; `status` the success status. `public` routes need
    no token (logging in, the API document). `permission` is the least one a
    user needs for the route (None: any user with a token); the operation
    checks it, the declaration shows it in the document and the contract test
    holds the two together. `params` gives a path part a type (an enum of
    actions, say) where "a string" says too little. `errors` adds statuses to
    the problem answers the document derives from the rest (401 on a public
    route that checks a password, say). `envelope` is the type of the error
    answers of a route that does not answer problem+json (Muster's routes answer
    every error in their own JSON envelope); None: problem+json.
    """

    method: str
    path: str
    handler: Handler
    tag: str
    body: Any = None
    query: type[BaseModel] | None = None
    answer: Any = None
    status: int = 200
    public: bool = False
    content_type: str = "application/json"
    permission: Permission | None = None
    params: Mapping[str, Any] | None = None
    errors: tuple[int, ...] = ()
    envelope: Any = None

    @property
    def summary(self) -> str:
        doc = (self.handler.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else self.handler.__name__.replace("_", " ")

    @property
    def description(self) -> str:
        doc = (self.handler.__doc__ or "").strip()
        return "\n".join(line.strip() for line in doc.splitlines()[1:]).strip()


class Routes:
    """The declared routes of one module (`tag` groups them in the API document)."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.endpoints: list[Endpoint] = []

    def route(self, method: str, path: str, **declared: Any) -> Callable[[Handler], Handler]:
        def declare(handler: Handler) -> Handler:
            endpoint = Endpoint(method, path, handler, self.tag, **declared)
            self.endpoints.append(endpoint)
            return handler

        return declare

    def get(self, path: str, **declared: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **declared)

    def post(self, path: str, **declared: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **declared)

    def put(self, path: str, **declared: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **declared)

    def patch(self, path: str, **declared: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, **declared)

    def delete(self, path: str, **declared: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **declared)

    def add_to(self, app: web.Application) -> None:
        """Add every declared route to the application, each wrapped with its declaration."""
        for endpoint in self.endpoints:
            app.router.add_route(endpoint.method, endpoint.path, _declared(endpoint), name=None)


ENDPOINT_KEY: web.RequestKey[Endpoint] = web.RequestKey("endpoint", Endpoint)


def _declared(endpoint: Endpoint) -> Handler:
    @functools.wraps(endpoint.handler)
    async def handle(request: web.Request) -> web.StreamResponse:
        request[ENDPOINT_KEY] = endpoint
        return await endpoint.handler(request)

    handle.endpoint = endpoint  # type: ignore[attr-defined]  # read by endpoint_of
    return handle


def endpoint_of(handler: object) -> Endpoint | None:
    """The declaration of a route's handler (None: an undeclared route)."""
    return getattr(handler, "endpoint", None)


def declared_endpoints(app: web.Application) -> list[Endpoint]:
    """Every declared route of the application, in the order they were added."""
    found = []
    for route in app.router.routes():
        endpoint = endpoint_of(route.handler)
        if endpoint is not None and route.method == endpoint.method:
            found.append(endpoint)
    return found


@functools.cache
def _adapter(kind: Any) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


def validation_error(exc: pydantic.ValidationError, prefix: str = "") -> ValidationError:
    """A pydantic error as Corral's ValidationError naming the first bad field."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in (prefix, *first["loc"]) if part != "") or None
    message = first["msg"].removeprefix("Value error, ")
    if where is None and ": " in message:  # a whole-object rule names its field first
        where, message = message.split(": ", 1)
    return ValidationError(f"{where}: {message}" if where else message, field=where)


def validate(kind: Any, value: Any, prefix: str = "") -> Any:
    """`value` validated as `kind` (a model, list[Model], ...); ValidationError otherwise."""
    try:
        return _adapter(kind).validate_python(value)
    except pydantic.ValidationError as exc:
        raise validation_error(exc, prefix) from None


async def read_json(request: web.Request) -> Any:
    """The request's JSON body, depth-limited; ValidationError when it is not JSON."""
    if request.content_length is None and not request.can_read_body:
        raise ValidationError("the request needs a JSON body")
    try:
        return await request.json(loads=limits.json_loads)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno}"
        ) from exc
    except UnicodeDecodeError as exc:
        raise ValidationError("the body is not UTF-8 text") from exc


async def read_body(request: web.Request) -> Any:
    """The body validated against the route's declared `body` type."""
    endpoint = request[ENDPOINT_KEY]
    if endpoint.body is None:
        raise AssertionError(f"{endpoint.method} {endpoint.path} declares no body")
    if endpoint.body is bytes:
        return await request.read()
    return validate(endpoint.body, await read_json(request))


def read_query(request: web.Request) -> Any:
    """The query parameters validated against the route's declared `query` model."""
    endpoint = request[ENDPOINT_KEY]
    if endpoint.query is None:
        raise AssertionError(f"{endpoint.method} {endpoint.path} declares no query")
    return validate(endpoint.query, _single(request.query))


def _single(query: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in query:
        values = query.getall(name)  # type: ignore[attr-defined]
        if len(values) > 1:
            raise ValidationError(f"{name}: give it once", field=name)
        out[name] = values[0]
    return out
