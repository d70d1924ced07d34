"""REST routes for the logs, the statistics samples and the job history.

Logs: the dispatcher log (`/api/v1/logs/dispatcher`, the messages scripts and
the API add), the daily activity logs and the action logs
(`/api/v1/logs/{activity|action}/{name}`). Any log can be followed live with
`?follow=1`: the answer streams what is written to it from then on, for at most
`follow_s` seconds (and `max_log_follow_s`) or `max_bytes` bytes. A chunk's log
is `/api/v1/logs/chunks/{job}/{n}` (also followed: what its running attempt
writes).

Statistics and history: `.../bounds`, the rows of a time range (paged as every
listing: `limit`, `after`, a Link header), and `DELETE` of a time range.
Reading needs a token; clearing and removing need the administer permission.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from dispatcher import listing
from dispatcher.operations import Permission
from dispatcher.operations.records import MAX_SAMPLES, LogTail
from dispatcher.web.app import json_response, operations
from dispatcher.web.endpoint import Routes, read_body, read_query

log = logging.getLogger(__name__)

routes = Routes("records")

FOLLOW_STOP: web.AppKey[asyncio.Event] = web.AppKey("follow_stop", asyncio.Event)
DEFAULT_FOLLOW_S = 60.0
DEFAULT_FOLLOW_BYTES = 16 * 1024 * 1024


class LogQuery(BaseModel):
    """Read a log whole (its last 8 MiB), or follow it."""

    model_config = ConfigDict(extra="forbid")

    follow: bool = Field(False, description="stream what is written from now on")
    follow_s: float = Field(
        DEFAULT_FOLLOW_S, gt=0, description="end the stream after this long (seconds)"
    )
    max_bytes: int = Field(
        DEFAULT_FOLLOW_BYTES, ge=1, le=1 << 30, description="end it after this many bytes"
    )


class ChunkLogQuery(LogQuery):
    """A chunk's log whole (its last 4 MiB), or followed; `attempt` by default the
    chunk's current one."""

    attempt: int | None = Field(None, ge=1, le=2**32 - 1)


class RangeQuery(BaseModel):
    """The time range of the rows (seconds since the epoch, inclusive) and the page."""

    model_config = ConfigDict(extra="forbid")

    start: float = Field(0.0, allow_inf_nan=False)
    end: float | None = Field(None, allow_inf_nan=False, description="default: no end")
    limit: int = Field(1000, ge=1, le=MAX_SAMPLES)
    after: str | None = Field(None, description="the cursor of the previous page's Link header")


class ClearQuery(BaseModel):
    """The time range to delete (seconds since the epoch, inclusive)."""

    model_config = ConfigDict(extra="forbid")

    start: float = Field(allow_inf_nan=False)
    end: float = Field(allow_inf_nan=False)


class MessageBody(BaseModel):
    """A line for the dispatcher log; `internal` marks it as a debugging line."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field(strict=True)
    internal: StrictBool = False


class Bounds(BaseModel):
    start: float
    end: float
    count: int


async def _text_or_follow(request: web.Request, kind: str, name: str | None) -> web.StreamResponse:
    ops, actor = operations(request)
    query: LogQuery = read_query(request)
    if not query.follow:
        text = (
            ops.records.messages(actor) if name is None else ops.records.read_log(actor, kind, name)
        )
        return web.Response(text=text, content_type="text/plain", charset="utf-8")
    tail = ops.records.follow_log(
        actor, kind, name, duration_s=query.follow_s, max_bytes=query.max_bytes,
        stop=_stop(request),
    )  # fmt: skip
    return await _stream(request, tail)


def _stop(request: web.Request) -> Callable[[], bool]:
    """When a tail must end before its bounds: the server closes, or the reader went."""
    stopping = request.app[FOLLOW_STOP]

    def stop() -> bool:
        transport = request.transport
        return stopping.is_set() or transport is None or transport.is_closing()

    return stop


async def _stream(request: web.Request, tail: LogTail) -> web.StreamResponse:
    """Write the tail as it comes; the answer ends when the tail does."""
    response = web.StreamResponse(headers={"Cache-Control": "no-store"})
    response.content_type = "text/plain"
    response.charset = "utf-8"
    try:
        await response.prepare(request)
        async for data in tail:
            await response.write(data)
        await response.write_eof()
    except ConnectionError:
        log.info("action=follow_client_gone path=%s", request.path)
    finally:
        await tail.aclose()
    return response


# -- logs ------------------------------------------------------------------------------
@routes.get("/api/v1/logs/")
async def list_logs(request: web.Request) -> web.Response:
    """The log files by kind: `{"dispatcher": [...], "activity": [...], "action": [...]}`."""
    ops, actor = operations(request)
    return json_response({
        "dispatcher": ["dispatcher"],
        "activity": ops.records.log_names(actor, "activity"),
        "action": ops.records.log_names(actor, "action"),
    })  # fmt: skip


@routes.get("/api/v1/logs/dispatcher", query=LogQuery, content_type="text/plain")
async def dispatcher_log(request: web.Request) -> web.StreamResponse:
    """The dispatcher log (`?follow=1`: what is written to it from now on)."""
    return await _text_or_follow(request, "dispatcher", None)


@routes.delete("/api/v1/logs/dispatcher", status=204, permission=Permission.ADMINISTER)
async def clear_dispatcher_log(request: web.Request) -> web.Response:
    """Empty the dispatcher log (administer)."""
    ops, actor = operations(request)
    await ops.records.clear_messages(actor)
    return web.Response(status=204)


@routes.post("/api/v1/logs/dispatcher", body=MessageBody, status=204, permission=Permission.SUBMIT)
async def add_message(request: web.Request) -> web.Response:
    """Add a line to the dispatcher log (submit)."""
    ops, actor = operations(request)
    body: MessageBody = await read_body(request)
    await ops.records.add_message(actor, body.message, internal=body.internal)
    return web.Response(status=204)


@routes.get("/api/v1/logs/{kind}/")
async def log_names(request: web.Request) -> web.Response:
    """The names of the `activity` or `action` log files."""
    ops, actor = operations(request)
    return json_response(ops.records.log_names(actor, request.match_info["kind"]))


@routes.get("/api/v1/logs/{kind}/{name}", query=LogQuery, content_type="text/plain")
async def read_log(request: web.Request) -> web.StreamResponse:
    """One activity or action log (`?follow=1`: what is written to it from now on)."""
    return await _text_or_follow(request, request.match_info["kind"], request.match_info["name"])


@routes.delete("/api/v1/logs/{kind}/{name}", status=204, permission=Permission.ADMINISTER)
async def remove_log(request: web.Request) -> web.Response:
    """Remove an activity or action log file (administer)."""
    ops, actor = operations(request)
    await ops.records.remove_log(actor, request.match_info["kind"], request.match_info["name"])
    return web.Response(status=204)


@routes.get("/api/v1/logs/chunks/{job}/{chunk}", query=ChunkLogQuery, content_type="text/plain")
async def chunk_log(request: web.Request) -> web.StreamResponse:
    """A chunk's output (`?follow=1`: what its running attempt writes from now on)."""
    ops, actor = operations(request)
    query: ChunkLogQuery = read_query(request)
    job, chunk = request.match_info["job"], request.match_info["chunk"]
    if not query.follow:
        data = await ops.chunks.log(actor, job, chunk, query.attempt)
        return web.Response(body=data, content_type="text/plain", charset="utf-8")
    tail = ops.records.follow_chunk_log(
        actor, job, chunk, query.attempt, duration_s=query.follow_s,
        max_bytes=query.max_bytes, stop=_stop(request),
    )  # fmt: skip
    return await _stream(request, tail)


# -- statistics and history ------------------------------------------------------------------
async def _bounds(request: web.Request, table: str) -> web.Response:
    ops, actor = operations(request)
    first, last, count = await ops.records.bounds(actor, table)
    return json_response({"start": first, "end": last, "count": count})


async def _rows(request: web.Request, table: str) -> web.Response:
    ops, actor = operations(request)
    query: RangeQuery = read_query(request)
    after = listing.decode_cursor(query.after) if query.after is not None else 0
    end = math.inf if query.end is None else query.end
    rows, last = await ops.records.samples(
        actor, table, query.start, end, after=after, limit=query.limit
    )
    response = json_response(rows)
    if last is not None:
        response.headers["Link"] = f'<{listing.next_url(request, last)}>; rel="next"'
    return response


async def _clear(request: web.Request, table: str) -> web.Response:
    ops, actor = operations(request)
    query: ClearQuery = read_query(request)
    await ops.records.clear(actor, table, query.start, query.end)
    return web.Response(status=204)


@routes.get("/api/v1/statistics/bounds", answer=Bounds)
async def statistics_bounds(request: web.Request) -> web.Response:
    """The first and last sample's time and the number of samples (0 when none)."""
    return await _bounds(request, "statistics")


@routes.get("/api/v1/statistics/", query=RangeQuery)
async def statistics(request: web.Request) -> web.Response:
    """The statistics samples of a time range, oldest first, paged."""
    return await _rows(request, "statistics")


@routes.delete(
    "/api/v1/statistics/", query=ClearQuery, status=204, permission=Permission.ADMINISTER
)
async def clear_statistics(request: web.Request) -> web.Response:
    """Delete the samples of a time range (administer)."""
    return await _clear(request, "statistics")


@routes.get("/api/v1/history/bounds", answer=Bounds)
async def history_bounds(request: web.Request) -> web.Response:
    """The first and last history row's time and the number of rows (0 when none)."""
    return await _bounds(request, "history")


@routes.get("/api/v1/history/", query=RangeQuery)
async def history(request: web.Request) -> web.Response:
    """The job history (submitted, started, completed, ...) of a time range, paged."""
    return await _rows(request, "history")


@routes.delete("/api/v1/history/", query=ClearQuery, status=204, permission=Permission.ADMINISTER)
async def clear_history(request: web.Request) -> web.Response:
    """Delete the history rows of a time range (administer)."""
    return await _clear(request, "history")


async def _stop_followers(app: web.Application) -> None:
    app[FOLLOW_STOP].set()


def add_routes(app: web.Application) -> None:
    app[FOLLOW_STOP] = asyncio.Event()
    app.on_shutdown.append(_stop_followers)
    routes.add_to(app)
