"""REST routes for jobs and their chunks (PyFarm's /api/v1/jobs/ shapes)."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from dispatcher import idempotency, jobspec, listing
from dispatcher.auth import Permission
from dispatcher.errors import NotFound, ValidationError
from dispatcher.jobspec import JobSpec
from dispatcher.model import parse_id
from dispatcher.views import job_view
from dispatcher.web.app import json_response, operations
from dispatcher.web.endpoint import Routes, read_body, read_json

routes = Routes("jobs")
JOB_ACTIONS = ("pause", "resume", "reinit")
JobEdit = jobspec.edit_model()


class ChunkStateBody(BaseModel):
    """A chunk's new state: queued (run it again), skipped or done."""

    model_config = ConfigDict(extra="forbid")
    state: str


def _key(request: web.Request) -> str:
    return request.match_info["job"]


@routes.get("/api/v1/jobs/", query=listing.JobQuery)
async def list_jobs(request: web.Request) -> web.StreamResponse:
    """Paged (`limit`, `after`) or streamed; filters `state`, `user`, `parent`, `template`."""
    ops, actor = operations(request)
    selection, render = ops.jobs.listing(actor, request.query)
    return await listing.respond(request, selection, render, slice_items=listing.JOB_SLICE)


@routes.post(
    "/api/v1/jobs/", body=JobSpec | list[JobSpec], status=201, permission=Permission.SUBMIT
)
async def submit_jobs(request: web.Request) -> web.Response:
    """Submit one job (an object) or several (a list).

    With an `Idempotency-Key` header, a retry answers the jobs the first request
    queued (201 again, with `Idempotent-Replayed: true`); the same key with another
    body answers 409.
    """
    ops, actor = operations(request)
    keys = request.headers.getall(idempotency.HEADER, [])
    if len(keys) > 1:
        raise ValidationError(
            f"{idempotency.HEADER}: one key per request", field=idempotency.HEADER
        )
    payload = await read_json(request)
    many = isinstance(payload, list)
    jobs = await ops.jobs.submit(
        actor, payload if many else [payload], idempotency_key=keys[0] if keys else None
    )
    views = [job_view(job) for job in jobs]
    response = json_response(views if many else views[0], status=201)
    if jobs.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@routes.get("/api/v1/jobs/{job}")
async def get_job(request: web.Request) -> web.Response:
    ops, actor = operations(request)
    return json_response(job_view(ops.jobs.get(actor, _key(request))))


@routes.patch("/api/v1/jobs/{job}", body=JobEdit, permission=Permission.MANAGE_OWN)
async def edit_job(request: web.Request) -> web.Response:
    ops, actor = operations(request)
    ops.jobs.get(actor, _key(request))  # 404 before reading the body
    job = await ops.jobs.edit(actor, _key(request), await read_json(request))
    return json_response(job_view(job))


@routes.delete("/api/v1/jobs/{job}", status=204, permission=Permission.MANAGE_OWN)
async def delete_job(request: web.Request) -> web.Response:
    ops, actor = operations(request)
    await ops.jobs.delete(actor, _key(request))
    return web.Response(status=204)


@routes.post(
    "/api/v1/jobs/{job}/actions/{action}",
    params={"action": Literal[JOB_ACTIONS]},
    permission=Permission.MANAGE_OWN,
)
async def job_action(request: web.Request) -> web.Response:
    ops, actor = operations(request)
    actions = {"pause": ops.jobs.pause, "resume": ops.jobs.resume, "reinit": ops.jobs.reinit}
    action = request.match_info["action"]
    if action not in actions:
        ops.jobs.get(actor, _key(request))
        raise NotFound(f"no job action {action!r}; try one of {', '.join(actions)}")
    job = await actions[action](actor, _key(request))
    return json_response(job_view(job))


@routes.get("/api/v1/jobs/{job}/why")
async def why(request: web.Request) -> web.Response:
    ops, actor = operations(request)
    job, reasons = ops.jobs.why(actor, _key(request))
    return json_response({"job": job.id, "state": job.state.value, "reasons": reasons})


@routes.get("/api/v1/jobs/{job}/tasks/", query=listing.ChunkQuery)
async def list_chunks(request: web.Request) -> web.StreamResponse:
    """Paged (`limit`, `after`) or streamed by chunk index; filter `state`."""
    ops, actor = operations(request)
    selection, render = ops.chunks.listing(actor, _key(request), request.query)
    return await listing.respond(request, selection, render, slice_items=listing.CHUNK_SLICE)


@routes.get("/api/v1/jobs/{job}/tasks/{chunk}")
async def get_chunk(request: web.Request) -> web.Response:
    ops, actor = operations(request)
    return json_response(await ops.chunks.get(actor, _key(request), request.match_info["chunk"]))


@routes.post(
    "/api/v1/jobs/{job}/tasks/{chunk}", body=ChunkStateBody, permission=Permission.MANAGE_OWN
)
async def set_chunk(request: web.Request) -> web.Response:
    ops, actor = operations(request)
    body = await read_body(request)
    view = await ops.chunks.set_status(
        actor, _key(request), request.match_info["chunk"], body.state
    )
    return json_response(view)


@routes.get("/api/v1/jobs/{job}/tasks/{chunk}/log", content_type="text/plain")
async def chunk_log(request: web.Request) -> web.Response:
    ops, actor = operations(request)
    attempt_text = request.query.get("attempt")
    attempt = parse_id(attempt_text) if attempt_text is not None else None
    if attempt_text is not None and attempt is None:
        raise ValidationError("attempt: must be a whole number", field="attempt")
    data = ops.chunks.log(actor, _key(request), request.match_info["chunk"], attempt)
    return web.Response(body=data, content_type="text/plain", charset="utf-8")


def add_routes(app: web.Application) -> None:
    routes.add_to(app)
