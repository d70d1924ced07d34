"""REST routes for jobs and their chunks (PyFarm's /api/v1/jobs/ shapes)."""

from __future__ import annotations

from aiohttp import web

from dispatcher import jobspec, listing
from dispatcher.auth import Permission
from dispatcher.errors import NotFound, PermissionDenied, ValidationError
from dispatcher.model import Job, Status
from dispatcher.views import chunk_view, job_view
from dispatcher.web.app import DISPATCHER, json_response, read_json, require

MAX_JOBS_PER_SUBMIT = 10_000


def _job(request: web.Request) -> Job:
    return request.app[DISPATCHER].queue.get(request.match_info["job"])


def _may_manage(request: web.Request, job: Job) -> None:
    user = require(request, Permission.MANAGE_OWN)
    if job.user != user.name and not user.can(Permission.MANAGE_ALL):
        raise PermissionDenied(
            f"job {job.id} belongs to {job.user}; {user.name} may manage only their own"
        )


async def list_jobs(request: web.Request) -> web.StreamResponse:
    """Paged (`limit`, `after`) or streamed; filters `state`, `user`, `parent`, `template`."""
    dispatcher = request.app[DISPATCHER]
    templates = dispatcher.templates

    def template_key(text: str) -> str:
        found = templates.get(text)
        return found.getKey() if found is not None else text

    selection = listing.job_selection(dispatcher.queue, request.query, template_key=template_key)
    render = listing.job_render(dispatcher.queue)
    return await listing.respond(request, selection, render, slice_items=listing.JOB_SLICE)


async def submit_jobs(request: web.Request) -> web.Response:
    dispatcher = request.app[DISPATCHER]
    user = require(request, Permission.SUBMIT)
    payload = await read_json(request)
    many = isinstance(payload, list)
    items = payload if many else [payload]
    if not items:
        raise ValidationError("the list of jobs is empty")
    if len(items) > MAX_JOBS_PER_SUBMIT:
        raise ValidationError(f"at most {MAX_JOBS_PER_SUBMIT} jobs per request")
    specs = []
    for position, item in enumerate(items):
        try:
            specs.append(jobspec.parse_spec(item))
        except ValidationError as exc:
            if many:
                raise ValidationError(f"job #{position}: {exc}", field=exc.field) from None
            raise
        if specs[-1].user not in (None, user.name) and not user.can(Permission.MANAGE_ALL):
            raise PermissionDenied(f"{user.name} may not submit jobs as {specs[-1].user}")
    jobs = await dispatcher.submit(specs, user.name)
    views = [job_view(job) for job in jobs]
    return json_response(views if many else views[0], status=201)


async def get_job(request: web.Request) -> web.Response:
    return json_response(job_view(_job(request)))


async def edit_job(request: web.Request) -> web.Response:
    dispatcher = request.app[DISPATCHER]
    job = _job(request)
    _may_manage(request, job)
    changes = jobspec.parse_edit(await read_json(request))
    await dispatcher.edit_job(job, changes)
    await dispatcher.commit("edit", request, job=job.id, fields=sorted(changes))
    return json_response(job_view(job))


async def delete_job(request: web.Request) -> web.Response:
    dispatcher = request.app[DISPATCHER]
    job = _job(request)
    _may_manage(request, job)
    dispatcher.queue.delete(job)
    dispatcher.chunk_logs.remove_job(job.id)
    await dispatcher.commit("delete", request, job=job.id)
    return web.Response(status=204)


async def job_action(request: web.Request) -> web.Response:
    dispatcher = request.app[DISPATCHER]
    job = _job(request)
    _may_manage(request, job)
    action = request.match_info["action"]
    queue = dispatcher.queue
    actions = {"pause": queue.pause, "resume": queue.resume, "reinit": queue.reinit}
    if action not in actions:
        raise NotFound(f"no job action {action!r}; try one of {', '.join(actions)}")
    actions[action](job)
    await dispatcher.commit(action, request, job=job.id)
    return json_response(job_view(job))


async def list_chunks(request: web.Request) -> web.StreamResponse:
    """Paged (`limit`, `after`) or streamed by chunk index; filter `state`."""
    dispatcher = request.app[DISPATCHER]
    job = _job(request)
    selection = listing.chunk_selection(job, request.query)
    render = listing.chunk_render(dispatcher.store, dispatcher.queue, job)
    return await listing.respond(request, selection, render, slice_items=listing.CHUNK_SLICE)


def _chunk_index(request: web.Request, job: Job) -> int:
    text = request.match_info["chunk"]
    if not text.isdigit():
        raise ValidationError(f"chunk: {text!r} is not a chunk number", field="chunk")
    return request.app[DISPATCHER].queue.chunk(job, int(text))


async def get_chunk(request: web.Request) -> web.Response:
    dispatcher = request.app[DISPATCHER]
    job = _job(request)
    index = _chunk_index(request, job)
    names = {node.id: node.label for node in dispatcher.queue.nodes.values()}
    view = chunk_view(job, index, names)
    view["runs"] = [
        {"attempt": attempt, "node_id": node, "state": state, "started": started, "finished": finished,
         "exit_code": exit_code, "error": error}
        for _, chunk, attempt, node, state, started, finished, exit_code, error in await dispatcher.store.runs(job.id, [index])
        if chunk == index
    ]  # fmt: skip
    return json_response(view)


async def chunk_log(request: web.Request) -> web.Response:
    dispatcher = request.app[DISPATCHER]
    job = _job(request)
    index = _chunk_index(request, job)
    attempt_text = request.query.get("attempt")
    if attempt_text is not None and not attempt_text.isdigit():
        raise ValidationError("attempt: must be a whole number", field="attempt")
    attempt = int(attempt_text) if attempt_text is not None else None
    data = dispatcher.chunk_logs.read(job.id, index, attempt)
    return web.Response(body=data, content_type="text/plain", charset="utf-8")


async def set_chunk(request: web.Request) -> web.Response:
    dispatcher = request.app[DISPATCHER]
    job = _job(request)
    _may_manage(request, job)
    index = _chunk_index(request, job)
    body = await read_json(request)
    if not isinstance(body, dict) or "state" not in body:
        raise ValidationError("state: required (queued, skipped or done)", field="state")
    try:
        status = Status(body["state"])
    except ValueError:
        raise ValidationError(f"state: unknown state {body['state']!r}", field="state") from None
    dispatcher.queue.set_chunk_status(job, index, status)
    await dispatcher.commit(
        "chunk_set_status", request, job=job.id, chunk=index, state=status.value
    )
    names = {node.id: node.label for node in dispatcher.queue.nodes.values()}
    return json_response(chunk_view(job, index, names))


async def why(request: web.Request) -> web.Response:
    dispatcher = request.app[DISPATCHER]
    job = _job(request)
    reasons = dispatcher.why(job)
    return json_response({"job": job.id, "state": job.state.value, "reasons": reasons})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/jobs/", list_jobs)
    app.router.add_post("/api/v1/jobs/", submit_jobs)
    app.router.add_get("/api/v1/jobs/{job}", get_job)
    app.router.add_patch("/api/v1/jobs/{job}", edit_job)
    app.router.add_delete("/api/v1/jobs/{job}", delete_job)
    app.router.add_post("/api/v1/jobs/{job}/actions/{action}", job_action)
    app.router.add_get("/api/v1/jobs/{job}/why", why)
    app.router.add_get("/api/v1/jobs/{job}/tasks/", list_chunks)
    app.router.add_get("/api/v1/jobs/{job}/tasks/{chunk}", get_chunk)
    app.router.add_post("/api/v1/jobs/{job}/tasks/{chunk}", set_chunk)
    app.router.add_get("/api/v1/jobs/{job}/tasks/{chunk}/log", chunk_log)
