"""REST routes for jobs (PyFarm's /api/v1/jobs/ shapes; their tasks are in tasks.py)."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from dispatcher import idempotency, jobspec, listing
from dispatcher.errors import NotFound, ValidationError
from dispatcher.jobspec import JobSpec
from dispatcher.operations import Permission
from dispatcher.web.app import json_response, operations
from dispatcher.web.endpoint import Routes, read_body, read_json, read_query

routes = Routes("jobs")
JOB_ACTIONS = ("pause", "resume", "reinit", "update-status", "update")
WORK_ACTIONS = ("preempt", "usurp", "reset-failures", "pause", "delete")
JobEdit = jobspec.edit_model()


class SubmitQuery(BaseModel):
    """How a submission is checked (other parameters, such as Muster's authToken, pass)."""

    model_config = ConfigDict(extra="ignore")

    unique_titles: bool = Field(
        True,
        description="false: a title a live job bears already is allowed (Muster's rule); "
        "true (default): it is 409 (PyFarm's)",
    )


class EditQuery(BaseModel):
    """How an edit's body is read (other parameters pass)."""

    model_config = ConfigDict(extra="ignore")

    only_changed: bool = Field(
        False,
        description="true: the body is a whole job in the Muster API's form (an MJob's, "
        "as MConsoleAPI.jobEdit sends it), of which only the editable fields that differ "
        "from the job's are applied",
    )


def _key(request: web.Request) -> str:
    return request.match_info["job"]


@routes.get("/api/v1/jobs/", query=listing.JobQuery, errors=(503,))
async def list_jobs(request: web.Request) -> web.StreamResponse:
    """The jobs, paged (`limit`, `after`) or streamed; filters state, user, parent, template,
    hidden, and `where`, a Smedge query (JSON).

    `where` is tested after the other filters, in slices that give the dispatcher's loop
    back, within the `query_budget_s` setting (past it: 503). A malformed query is 400
    naming where it is wrong.
    """
    ops, actor = operations(request)
    selection, render = ops.jobs.listing(actor, request.query, pyfarm_views=True)
    wheres = request.query.getall("where", [])
    if len(wheres) > 1:
        raise ValidationError(
            "where: give it once; a list of queries, [Q1, Q2], needs all to hold", field="where"
        )
    if wheres:
        page = listing.PageQuery.parse(request.query)
        selection = await ops.jobs.where(
            actor,
            selection,
            wheres[0],
            after=page.after,
            limit=None if page.limit is None else page.limit + 1,
        )
    return await listing.respond(request, selection, render, slice_items=listing.JOB_SLICE)


@routes.post(
    "/api/v1/jobs/",
    body=JobSpec | list[JobSpec],
    query=SubmitQuery,
    status=201,
    permission=Permission.SUBMIT,
)
async def submit_jobs(request: web.Request) -> web.Response:
    """Submit one job (an object) or several (a list); a title a live job bears already is 409
    (unless `unique_titles=false`, Muster's rule, which the compat packages send).

    With an `Idempotency-Key` header, a retry answers the jobs the first request
    queued (201 again, with `Idempotent-Replayed: true`); the same key with another
    body answers 409.
    """
    ops, actor = operations(request)
    query: SubmitQuery = read_query(request)
    keys = request.headers.getall(idempotency.HEADER, [])
    if len(keys) > 1:
        raise ValidationError(
            f"{idempotency.HEADER}: one key per request", field=idempotency.HEADER
        )
    payload = await read_json(request)
    many = isinstance(payload, list)
    jobs = await ops.jobs.submit(
        actor,
        payload if many else [payload],
        idempotency_key=keys[0] if keys else None,
        unique_titles=query.unique_titles,
    )
    views = [ops.jobs.answer(actor, job) for job in jobs]
    response = json_response(views if many else views[0], status=201)
    if jobs.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


class WorkBody(BaseModel):
    """The jobs an action over several jobs acts on, and its options."""

    model_config = ConfigDict(extra="forbid")

    jobs: list[StrictInt | StrictStr] = Field(description="job ids, UUIDs or titles")
    minimum_priority: StrictInt | None = Field(
        None, description="usurp: preempt jobs below this (default: the jobs' lowest priority)"
    )
    stop_work: StrictBool | None = Field(
        None,
        description="pause: also requeue the running chunks (default false); delete: false "
        "refuses (409) when a chunk runs (default true)",
    )


@routes.post(
    "/api/v1/jobs/actions/{action}",
    params={"action": Literal[WORK_ACTIONS]},
    body=WorkBody,
    permission=Permission.MANAGE_OWN,
)
async def work_action(request: web.Request) -> web.Response:
    """Act on several jobs at once, all or none: preempt, usurp, reset-failures, pause, delete.

    `preempt` kills the jobs' running chunks and queues them again (the jobs stay queued);
    `usurp` does so to every other job below `minimum_priority` (default: the lowest
    priority of the jobs); `reset-failures` queues failed chunks again with their retries
    and lifts the nodes' exclusions of the jobs (manage-nodes); `pause` pauses them
    (`stop_work`: requeuing their running chunks); `delete` deletes them (`stop_work`
    false: 409 when a chunk runs). An unknown job is 404 and a job the user may not
    manage 403, and then nothing changes.
    """
    ops, actor = operations(request)
    action = request.match_info["action"]
    if action not in WORK_ACTIONS:
        raise NotFound(f"no action {action!r}; try one of {', '.join(WORK_ACTIONS)}")
    body: WorkBody = await read_body(request)
    work = ops.job_work
    if action == "preempt":
        answer = await work.preempt(actor, body.jobs)
    elif action == "usurp":
        answer = await work.usurp(actor, body.jobs, body.minimum_priority)
    elif action == "reset-failures":
        answer = await work.reset_failures(actor, body.jobs)
    elif action == "pause":
        answer = await work.pause(actor, body.jobs, stop_work=bool(body.stop_work))
    else:
        stop = body.stop_work is not False
        answer = {"jobs": await work.delete(actor, body.jobs, stop_work=stop)}
    return json_response(answer)


# Declared before /api/v1/jobs/{job}: a plain path is matched before a variable one.
@routes.get("/api/v1/jobs/schema", answer=dict[str, str])
async def job_schema(request: web.Request) -> web.Response:
    """PyFarm's job schema: each column and its SQL type."""
    ops, actor = operations(request)
    return json_response(ops.jobs.schema(actor))


@routes.get("/api/v1/jobs/{job}")
async def get_job(request: web.Request) -> web.Response:
    """One job, by id or by title."""
    ops, actor = operations(request)
    return json_response(ops.jobs.answer(actor, ops.jobs.get(actor, _key(request))))


async def _edit(request: web.Request) -> web.Response:
    ops, actor = operations(request)
    query: EditQuery = read_query(request)
    ops.jobs.get(actor, _key(request))  # 404 before reading the body
    job = await ops.jobs.edit(
        actor, _key(request), await read_json(request), only_changed=query.only_changed
    )
    return json_response(ops.jobs.answer(actor, job))


@routes.post("/api/v1/jobs/{job}", body=JobEdit, query=EditQuery, permission=Permission.MANAGE_OWN)
async def update_job(request: web.Request) -> web.Response:
    """Update a job's fields; a new start, end or by creates or deletes its tasks."""
    return await _edit(request)


@routes.put("/api/v1/jobs/{job}", body=JobEdit, query=EditQuery, permission=Permission.MANAGE_OWN)
async def put_job(request: web.Request) -> web.Response:
    """Update a job's fields (as POST)."""
    return await _edit(request)


@routes.patch("/api/v1/jobs/{job}", body=JobEdit, query=EditQuery, permission=Permission.MANAGE_OWN)
async def edit_job(request: web.Request) -> web.Response:
    """Update a job's fields (as POST)."""
    return await _edit(request)


@routes.delete("/api/v1/jobs/{job}", status=204, permission=Permission.MANAGE_OWN)
async def delete_job(request: web.Request) -> web.Response:
    """Delete a job (its running attempts are killed) or an empty folder."""
    ops, actor = operations(request)
    await ops.jobs.delete(actor, _key(request))
    return web.Response(status=204)


@routes.post(
    "/api/v1/jobs/{job}/actions/{action}",
    params={"action": Literal[JOB_ACTIONS]},
    permission=Permission.MANAGE_OWN,
)
async def job_action(request: web.Request) -> web.Response:
    """Pause a job, resume it, reinit it (every chunk queued again), update-status (recount it
    from its chunks and look at it again) or update (write it to the store now)."""
    ops, actor = operations(request)
    actions = {
        "pause": ops.jobs.pause,
        "resume": ops.jobs.resume,
        "reinit": ops.jobs.reinit,
        "update-status": ops.jobs.update_status,
        "update": ops.jobs.update,
    }
    action = request.match_info["action"]
    if action not in actions:
        ops.jobs.get(actor, _key(request))
        raise NotFound(f"no job action {action!r}; try one of {', '.join(actions)}")
    job = await actions[action](actor, _key(request))
    return json_response(ops.jobs.answer(actor, job))


@routes.get("/api/v1/jobs/{job}/why")
async def why(request: web.Request) -> web.Response:
    """Why a job is not running: what holds it (`reasons` is empty when nothing does)."""
    ops, actor = operations(request)
    job, reasons = ops.jobs.why(actor, _key(request))
    return json_response({"job": job.id, "state": job.state.value, "reasons": reasons})


def add_routes(app: web.Application) -> None:
    routes.add_to(app)
