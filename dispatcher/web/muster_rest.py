"""Muster 9's REST API, so that pipelines written for Muster submit to Corral unchanged:
`/api/login`, `/api/templates/list`, `/api/nodes/list` and `/api/queue/actions?name=...`
(MClientAPI.py, Muster's submission library, is a client of these routes).

Every answer, errors included, is Muster's envelope with the HTTP status as its Code:

    {"ResponseStatus": {"Code": 200, "Time": "...", "Description": "OK"},
     "ResponseData": {...}}

The token comes as `?authToken=` (or the usual Authorization header). The routes only
translate (dispatcher/muster_job.py holds the job translation); each action is one
operation of dispatcher/operations.
"""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from dispatcher import listing, muster_job
from dispatcher.errors import CorralError, ValidationError
from dispatcher.model import Job, parse_id
from dispatcher.muster_job import ActionBody, RequestData
from dispatcher.operations import Actor, Operations
from dispatcher.views import job_view
from dispatcher.web.app import OPERATIONS, Handler, operations
from dispatcher.web.endpoint import (
    Routes,
    endpoint_of,
    read_body,
    read_query,
)

log = logging.getLogger(__name__)

routes = Routes("muster")

PATHS = ("/api/login", "/api/templates/", "/api/queue/", "/api/nodes/")
DEFAULT_LIST_LIMIT = 1000
MAX_JOB_IDS = 1000
# A chunk's log answers at most its last 4 MiB (the chunk log store's own cap).
MAX_LOG_BYTES = 4 << 20
# Queue actions that only read: GET may ask them too.
READ_ACTIONS = ("list", "chunks", "log")
TEMPLATE_FIELDS = {
    "name": "name", "id": "id", "key": "key", "description": "description",
    "defaultPriority": "default_priority", "logic": "logic",
}  # fmt: skip


# -- the envelope -----------------------------------------------------------------------
def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


def envelope(
    data: dict[str, Any], code: int = 200, description: str = "OK", **extra: Any
) -> web.Response:
    """A Muster answer: ResponseStatus (Code = the HTTP status) and ResponseData."""
    status = {"Code": code, "Time": _now(), "Description": description, **extra}
    body = {"ResponseStatus": status, "ResponseData": data}
    return web.Response(status=code, text=json.dumps(body), content_type="application/json")


class MusterStatus(BaseModel):
    """How the request went: `Code` is the HTTP status; `Field` names a bad field."""

    Code: int
    Time: str
    Description: str
    field_name: str | None = Field(None, alias="Field")


class MusterEnvelope(BaseModel):
    """Every answer of Muster's routes, errors included."""

    ResponseStatus: MusterStatus
    ResponseData: dict[str, Any]


def _is_muster(request: web.Request) -> bool:
    endpoint = endpoint_of(request.match_info.route.handler)
    if endpoint is not None:
        return endpoint.tag == routes.tag
    return request.path.startswith(PATHS)


@web.middleware
async def muster_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: on Muster's paths an error answer (problem+json from any layer: the
    token check, validation, an unknown path or method) becomes Muster's envelope."""
    response = await handler(request)
    if response.content_type != "application/problem+json" or not _is_muster(request):
        return response
    assert isinstance(response, web.Response) and response.text is not None
    problem = json.loads(response.text)
    extra = {"Field": problem["field"]} if problem.get("field") else {}
    answer = envelope({}, response.status, str(problem.get("detail") or problem["title"]), **extra)
    for name in ("WWW-Authenticate", "Retry-After", "Allow"):
        if name in response.headers:
            answer.headers[name] = response.headers[name]
    return answer


# -- queries ----------------------------------------------------------------------------
class MusterQuery(BaseModel):
    """Parameters every Muster route takes: the token and the answer's format."""

    model_config = ConfigDict(extra="forbid")

    authToken: str | None = Field(None, description="the token /api/login gave")
    dollar_format: str | None = Field(None, alias="$format", description="json (xml: 406)")
    format: str | None = Field(None, description="json (xml: 406)")


class LoginQuery(MusterQuery):
    # Required, and checked by the login operation itself (so a refusal is audited there).
    username: str | None = Field(None, description="required")
    password: str | None = Field(None, description="required")


class TemplatesQuery(MusterQuery):
    select: str | None = Field(None, max_length=1024, description="name,id,key,description...")


class ActionsQuery(MusterQuery):
    name: str = Field(description="submit, list, chunks, log, pause, resume, delete or reinit")
    jobId: str | None = Field(
        None, max_length=20_000, pattern=r"^[0-9, ]*$", description="a job id or a comma list"
    )
    chunkId: int | None = Field(None, ge=0, description="log: the chunk (0-based)")
    attempt: int | None = Field(None, ge=0, description="log: the attempt (default: the last)")
    maxBytes: int | None = Field(
        None, ge=1, le=MAX_LOG_BYTES, description="log: at most this many bytes, from the end"
    )
    limit: int | None = Field(None, ge=1, le=listing.MAX_LIMIT)
    after: str | None = Field(None, description="ResponseData.next of the previous page")
    state: str | None = None
    owner: str | None = None
    user: str | None = None
    parent: int | None = None
    template: str | None = None


def _query(request: web.Request) -> Any:
    """The declared query, validated, with the answer's format checked."""
    query = read_query(request)
    for given in (query.dollar_format, query.format):
        if given is None or given.lower() == "json":
            continue
        if given.lower() == "xml":
            raise NotAcceptable("format: xml is not supported; Corral answers JSON only")
        raise ValidationError(f"format: {given[:32]!r} is not json", field="format")
    return query


class NotAcceptable(web.HTTPNotAcceptable):
    """406 with a sentence (the error layer shows the text as the Description)."""

    def __init__(self, text: str) -> None:
        super().__init__(text=text, content_type="text/plain")


# -- login and templates ----------------------------------------------------------------
@routes.post(
    "/api/login",
    query=LoginQuery,
    public=True,
    answer=MusterEnvelope,
    envelope=MusterEnvelope,
    errors=(401, 406, 429),
)
async def login(request: web.Request) -> web.Response:
    """Log in with `username` and `password` query parameters; ResponseData.authToken."""
    query = _query(request)
    user, token = await request.app[OPERATIONS].accounts.login(query.username, query.password)
    return envelope({"authToken": token, "username": user.name})


async def _templates(request: web.Request) -> web.Response:
    query = _query(request)
    ops, actor = operations(request)
    wanted = ["name", "id"]
    for part in (query.select or "").split(","):
        name = part.strip()
        if not name:
            continue
        if name not in TEMPLATE_FIELDS:
            known = ", ".join(TEMPLATE_FIELDS)
            raise ValidationError(f"select: no template field {name!r} ({known})", field="select")
        if name not in wanted:
            wanted.append(name)
    views = ops.system.templates(actor)["templates"]
    templates = [{name: view.get(TEMPLATE_FIELDS[name]) for name in wanted} for view in views]
    return envelope({"templates": templates})


@routes.post(
    "/api/templates/list",
    query=TemplatesQuery,
    answer=MusterEnvelope,
    envelope=MusterEnvelope,
    errors=(406,),
)
async def templates_post(request: web.Request) -> web.Response:
    """The installed templates as {name, id} (`select` adds key, description, ...)."""
    return await _templates(request)


@routes.get(
    "/api/templates/list",
    query=TemplatesQuery,
    answer=MusterEnvelope,
    envelope=MusterEnvelope,
    errors=(406,),
)
async def templates_get(request: web.Request) -> web.Response:
    """The installed templates as {name, id} (`select` adds key, description, ...)."""
    return await _templates(request)


# -- queue actions ----------------------------------------------------------------------
Action = Callable[
    [web.Request, Operations, Actor, Any, RequestData | None], Awaitable[web.Response]
]


@routes.post(
    "/api/queue/actions",
    query=ActionsQuery,
    body=ActionBody,
    answer=MusterEnvelope,
    envelope=MusterEnvelope,
    errors=(406,),
)
async def queue_action(request: web.Request) -> web.Response:
    """Muster's queue actions by `name`: submit, list, chunks, log, pause, resume, delete,
    reinit.

    submit takes `{"RequestData": {"platform": 0, "job": {...}}}`; pause, resume, delete
    and reinit take the job ids as `jobId=12,13` or `{"RequestData": {"jobIds": [...]}}`.
    The permission depends on the action: submit needs `submit`; pause, resume, delete
    and reinit `manage_own` (another user's job `manage_all`); list, chunks and log none.
    """
    return await _action(request, write=True)


@routes.get(
    "/api/queue/actions",
    query=ActionsQuery,
    answer=MusterEnvelope,
    envelope=MusterEnvelope,
    errors=(405, 406),
)
async def queue_list(request: web.Request) -> web.Response:
    """The job queue (`name=list`), paged with `limit` and ResponseData.next as `after`; a
    job's chunks (`name=chunks&jobId=12`); a chunk's log (`name=log&jobId=12&chunkId=0`)."""
    return await _action(request, write=False)


async def _action(request: web.Request, *, write: bool) -> web.Response:
    query = _query(request)
    ops, actor = operations(request)
    action = ACTIONS.get(query.name)
    if action is None:
        known = ", ".join(ACTIONS)
        raise ValidationError(f"name: no queue action {query.name[:32]!r} ({known})", "name")
    if not write and query.name not in READ_ACTIONS:
        raise web.HTTPMethodNotAllowed(
            "GET", ["POST"], text=f"name={query.name} changes the queue: use POST"
        )
    data = None
    if write and request.body_exists:
        data = (await read_body(request)).RequestData
    return await action(request, ops, actor, query, data)


async def _submit(
    request: web.Request, ops: Operations, actor: Actor, query: Any, data: RequestData | None
) -> web.Response:
    if data is None or data.job is None:
        raise ValidationError("RequestData.job: the job to submit is required", "RequestData.job")
    job = data.job
    if job.jobType == muster_job.JOB_TYPE_FOLDER:
        try:
            specs = muster_job.job_specs(job, {})
        except ValidationError as exc:
            raise _in_job(exc) from None
        try:
            folder = (await ops.jobs.submit(actor, specs))[0]
        except ValidationError as exc:
            raise _renamed(exc, 1) from None
        log.info("action=muster_submit_folder job=%d user=%s", folder.id, actor.name)
        return envelope({"jobId": folder.id})
    if not job.templateId.strip():
        field = "RequestData.job.templateId"
        raise ValidationError(f"{field}: a job needs its template's id", field)
    views = ops.system.templates(actor)["templates"]
    template = next((view for view in views if _names_template(view, job.templateId)), None)
    if template is None:
        known = ", ".join(f"{view['id']} ({view['key']})" for view in views)
        raise ValidationError(
            f"RequestData.job.templateId: no template {job.templateId!r} (known: {known})",
            "RequestData.job.templateId",
        )
    try:
        specs = muster_job.job_specs(job, template)
    except ValidationError as exc:
        raise _in_job(exc) from None
    try:
        jobs = await ops.jobs.submit(actor, specs)
    except ValidationError as exc:
        raise _renamed(exc, len(specs)) from None
    answer: dict[str, Any] = {"jobId": jobs[0].id}
    if len(jobs) > 1:
        answer["postJobActionId"] = jobs[1].id
    log.info("action=muster_submit job=%d user=%s jobs=%d", jobs[0].id, actor.name, len(jobs))
    return envelope(answer)


def _names_template(view: dict[str, Any], wanted: str) -> bool:
    """True when `wanted` (the template's integer id, or its key) names the template."""
    text = wanted.strip()
    return bool(view["key"] == text or str(view["id"]) == text)


def _in_job(exc: ValidationError) -> ValidationError:
    field = f"RequestData.job.{exc.field}" if exc.field else "RequestData.job"
    message = str(exc)
    if exc.field and message.startswith(f"{exc.field}:"):
        message = f"RequestData.job.{message}"
    return ValidationError(message, field)


# Corral's spec fields and the Muster job keys they come from, for errors the operation finds.
SPEC_KEYS = {
    "title": "jobName", "template": "templateId", "parent": "parentId", "priority": "priority",
    "batch": "packetSize", "pools": "includedPools", "excluded_pools": "excludedPools",
    "max_nodes": "maximumInstances", "depends_on": "dependIds", "per_frame": "dependLinkMode",
    "environ": "attributes.environmental_variables", "notes": "attributes.memo",
    "project": "project", "department": "department", "data": "attributes",
    "start": "attributes.frames_range", "end": "attributes.frames_range",
    "by": "attributes.by_frame", "frames": "attributes.frames_range",
    "command": "attributes.post_job_action",
}  # fmt: skip


def _renamed(exc: ValidationError, jobs: int) -> ValidationError:
    """An error of the submit operation, naming the Muster key it came from."""
    message = str(exc)
    post_action = False
    if jobs > 1:
        for position in range(jobs):
            prefix = f"job #{position}: "
            if message.startswith(prefix):
                message, post_action = message.removeprefix(prefix), position == 1
    head = (exc.field or "").split(".")[0]
    key = SPEC_KEYS.get(head)
    if post_action:
        key = f"attributes.{muster_job.POST_JOB_ACTION}"
    if key is None:
        return ValidationError(message, exc.field)
    field = f"RequestData.job.{key}"
    if key == "attributes" and exc.field:  # data.KATFILENAME -> ...attributes.KATFILENAME
        field += exc.field[len(head) :]
    if exc.field and message.startswith(f"{exc.field}:"):
        message = f"{field}:{message.removeprefix(exc.field + ':')}"
    elif post_action:
        message = f"{field}: {message}"
    return ValidationError(message, field)


async def _list(
    request: web.Request, ops: Operations, actor: Actor, query: Any, data: RequestData | None
) -> web.Response:
    if query.jobId is not None:  # these jobs only, in the order asked
        ids = _job_ids(query, None)
        template_ids = _template_ids(ops, actor)
        found = [job_view(ops.jobs.get(actor, job_id)) for job_id in ids]
        return envelope(
            {"jobs": [muster_job.job_summary(view, template_ids) for view in found], "next": None}
        )
    filters = {
        name: str(value)
        for name in ("state", "owner", "user", "parent", "template")
        if (value := getattr(query, name)) is not None
    }
    selection, render = ops.jobs.listing(actor, filters)
    keys, next_after = await _page(selection, query, listing.JOB_SLICE)
    views = await _render(render, keys)
    template_ids = _template_ids(ops, actor)
    jobs = [muster_job.job_summary(view, template_ids) for view in views]
    return envelope({"jobs": jobs, "next": next_after})


async def _page(
    selection: listing.Selection, query: Any, slice_items: int
) -> tuple[list[int], str | None]:
    """One page of keys (`query.limit`, after the cursor `query.after`) and the cursor of
    the next page (None on the last)."""
    limit = query.limit or DEFAULT_LIST_LIMIT
    after = -1 if query.after is None else listing.decode_cursor(query.after)
    keys = [
        key
        async for found in listing.select(
            selection, after=after, limit=limit + 1, slice_items=slice_items
        )
        for key in found
    ]
    more = len(keys) > limit
    del keys[limit:]
    return keys, listing.encode_cursor(keys[-1]) if more and keys else None


async def _render(render: listing.Render, keys: list[int]) -> list[Any]:
    views = render(keys)
    return views if isinstance(views, list) else await views


def _template_ids(ops: Operations, actor: Actor) -> dict[str, int]:
    return {view["key"]: view["id"] for view in ops.system.templates(actor)["templates"]}


def _one_job(query: Any) -> int:
    ids = _job_ids(query, None)
    if len(ids) != 1:
        raise ValidationError(f"jobId: one job id, not {len(ids)}", "jobId")
    return ids[0]


async def _chunks(
    request: web.Request, ops: Operations, actor: Actor, query: Any, data: RequestData | None
) -> web.Response:
    job = ops.jobs.get(actor, _one_job(query))
    selection, render = ops.chunks.listing(actor, job.id, {} if query.state is None else
                                           {"state": query.state})  # fmt: skip
    keys, next_after = await _page(selection, query, listing.CHUNK_SLICE)
    chunks = [muster_job.chunk_summary(view) for view in await _render(render, keys)]
    return envelope({"jobId": job.id, "chunks": chunks, "next": next_after})


async def _chunk_log(
    request: web.Request, ops: Operations, actor: Actor, query: Any, data: RequestData | None
) -> web.Response:
    job_id = _one_job(query)
    if query.chunkId is None:
        raise ValidationError("chunkId: the chunk (0-based) is required", "chunkId")
    ops.jobs.get(actor, job_id)  # 404 for an unknown job before its chunk
    raw = await ops.chunks.log(actor, job_id, query.chunkId, query.attempt)
    limit = query.maxBytes or MAX_LOG_BYTES
    text = raw[-limit:].decode("utf-8", "replace")
    answer = {
        "jobId": job_id, "chunkId": query.chunkId, "attempt": query.attempt,
        "log": text, "truncated": len(raw) > limit,
    }  # fmt: skip
    return envelope(answer)


def _job_ids(query: Any, data: RequestData | None) -> list[int]:
    ids: list[int] = []
    if query.jobId is not None:
        for part in query.jobId.split(","):
            number = parse_id(part.strip())
            if number is None or number < 1:
                raise ValidationError(f"jobId: {part.strip()[:32]!r} is not a job id", "jobId")
            ids.append(number)
    if data is not None:
        ids += [] if data.jobId is None else [data.jobId]
        ids += data.jobIds or []
    unique = list(dict.fromkeys(ids))
    if not unique:
        raise ValidationError("jobId: the job id (or a comma list of them) is required", "jobId")
    if len(unique) > MAX_JOB_IDS:
        raise ValidationError(f"jobId: at most {MAX_JOB_IDS} jobs at once", "jobId")
    return unique


def _change(name: str) -> Action:
    async def change(
        request: web.Request, ops: Operations, actor: Actor, query: Any, data: RequestData | None
    ) -> web.Response:
        ids = _job_ids(query, data)
        # Every job found and allowed before the first is changed: a bad id changes nothing.
        found: list[Job] = [ops.jobs.get(actor, job_id) for job_id in ids]
        for job in found:
            actor.may_manage(job)
        operation = {
            "pause": ops.jobs.pause,
            "resume": ops.jobs.resume,
            "reinit": ops.jobs.reinit,
            "delete": ops.jobs.delete,
        }[name]
        done: list[int] = []
        try:
            for job_id in ids:
                await operation(actor, job_id)
                done.append(job_id)
        except CorralError:
            if done:  # only a failing store gets here after the checks above
                log.warning("action=muster_%s_partial done=%s of=%s", name, done, ids)
            raise
        if name == "delete":
            return envelope({"deleted": done})
        template_ids = _template_ids(ops, actor)
        jobs = [muster_job.job_summary(job_view(ops.jobs.get(actor, job_id)), template_ids)
                for job_id in done]  # fmt: skip
        return envelope({"jobs": jobs})

    return change


ACTIONS: dict[str, Action] = {
    "submit": _submit,
    "list": _list,
    "chunks": _chunks,
    "log": _chunk_log,
    "pause": _change("pause"),
    "resume": _change("resume"),
    "delete": _change("delete"),
    "reinit": _change("reinit"),
}


# -- render nodes -----------------------------------------------------------------------
class NodesQuery(MusterQuery):
    limit: int | None = Field(None, ge=1, le=listing.MAX_LIMIT)
    after: str | None = Field(None, description="ResponseData.next of the previous page")


async def _nodes(request: web.Request) -> web.Response:
    query = _query(request)
    ops, actor = operations(request)
    selection, _ = ops.nodes.listing(actor)
    keys, next_after = await _page(selection, query, listing.NODE_SLICE)
    known = {node.id: node for node in ops.nodes.list(actor)}
    nodes = [muster_job.node_summary(ops.nodes.api_view(known[key])) for key in keys
             if key in known]  # fmt: skip
    return envelope({"nodes": nodes, "next": next_after})


@routes.get("/api/nodes/list", query=NodesQuery, answer=MusterEnvelope, envelope=MusterEnvelope,
            errors=(406,))  # fmt: skip
async def nodes_get(request: web.Request) -> web.Response:
    """The render nodes (instances) with Muster-style keys, paged with `limit` and `after`."""
    return await _nodes(request)


@routes.post("/api/nodes/list", query=NodesQuery, answer=MusterEnvelope, envelope=MusterEnvelope,
             errors=(406,))  # fmt: skip
async def nodes_post(request: web.Request) -> web.Response:
    """The render nodes (instances) with Muster-style keys, paged with `limit` and `after`."""
    return await _nodes(request)


def add_routes(app: web.Application) -> None:
    routes.add_to(app)
