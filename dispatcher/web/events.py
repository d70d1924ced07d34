"""GET /api/v1/events: the farm's change events as server-sent events (text/event-stream).

Each message is `id:` (the event's number), `event:` (its kind, the type tag:
job, chunk, node, account, system, progress, node_state) and `data:` (the event
as one line of JSON). Filters: `job`, `node` and `kind` (a type tag or an
action), each repeatable or comma-separated. A client resumes with the
`Last-Event-ID` header (or `last_event_id`, for clients that cannot set
headers): the events it missed are replayed from the dispatcher's memory, or,
when they are no longer kept, one `missed` event says so first (reload, then
go on). An idle stream gets a comment line every `events_keepalive_s`.

The stream only reads its own buffer (dispatcher/streams.py), and sends the
frames encoded there once for every stream. A job's `job_progress` events that
wait for a busy client are merged there (the newest one goes); a client that
still cannot keep up is dropped there, and its connection aborted here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from dispatcher.errors import ValidationError
from dispatcher.operations.events import Opened
from dispatcher.web.app import operations
from dispatcher.web.endpoint import Routes, validate

log = logging.getLogger(__name__)

routes = Routes("events")

MAX_FILTER_VALUES = 100
MAX_EVENT_ID = 2**63 - 1
# An idle stream looks this often whether its client went away (the slot frees).
LIVENESS_S = 1.0
SHUTDOWN_REASON = "the dispatcher is shutting down"
SEND_BUFFER_BYTES = 128 * 1024
CHUNK_FRAMING_BYTES = 32  # a chunked write's size line and line ends

Id = Annotated[int, Field(ge=1, le=MAX_EVENT_ID)]
Kind = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class EventsQuery(BaseModel):
    """Which events to follow, and from where (each filter: any of its values)."""

    model_config = ConfigDict(extra="forbid")

    job: list[Id] = Field([], max_length=MAX_FILTER_VALUES, description="job ids")
    node: list[Id] = Field([], max_length=MAX_FILTER_VALUES, description="node ids")
    kind: list[Kind] = Field(
        [], max_length=MAX_FILTER_VALUES, description="type tags (job, progress, ...) or actions"
    )
    last_event_id: Annotated[int, Field(ge=0, le=MAX_EVENT_ID)] | None = Field(
        None, description="resume after this event (the Last-Event-ID header wins)"
    )


def read_events_query(request: web.Request) -> EventsQuery:
    """The query with repeated and comma-separated filter values gathered into lists."""
    values: dict[str, object] = {}
    for name in request.query:
        given = request.query.getall(name)
        if name in ("job", "node", "kind"):
            values[name] = [part for value in given for part in value.split(",") if part != ""]
        elif len(given) > 1:
            raise ValidationError(f"{name}: give it once", field=name)
        else:
            values[name] = given[0]
    query: EventsQuery = validate(EventsQuery, values)
    return query


def resume_point(request: web.Request, query: EventsQuery) -> int | None:
    header = request.headers.get("Last-Event-ID")
    if header is None or header.strip() == "":
        return query.last_event_id
    text = header.strip()
    if not text.isdecimal() or len(text) > 19 or int(text) > MAX_EVENT_ID:
        raise ValidationError(
            "Last-Event-ID: an event number (the id of the last event received) is required",
            field="Last-Event-ID",
        )
    return int(text)


def missed_message(last_seq: int, after: int) -> bytes:
    data = json.dumps(
        {"type": "missed", "action": "missed", "actor": "system", "time": time.time(),
         "after": after, "last": last_seq,
         "detail": "events after the given id are no longer kept: reload, then go on"},
        separators=(",", ":"),
    )  # fmt: skip
    return b"id: %d\nevent: missed\ndata: %s\n\n" % (last_seq, data.encode())


def _cap_send_buffer(transport: asyncio.BaseTransport | None) -> None:
    """A fixed kernel send buffer for a stream's socket: the kernel would otherwise grow it
    to megabytes for a client that reads nothing, before that client counts as slow."""
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)


def _low_water(transport: asyncio.Transport | None) -> int:
    """The buffered bytes at or under which the transport lets writers go on (0: unknown):
    a transport paused past its high-water mark resumes only once it drains to this."""
    if transport is None:
        return 0
    try:
        return int(transport.get_write_buffer_limits()[0])
    except (AttributeError, NotImplementedError):
        return 0


class _Connection:
    """One client's stream on its connection: writes bounded in time, cut on a drop."""

    def __init__(self, request: web.Request, opened: Opened, keepalive_s: float) -> None:
        self.request = request
        self.opened = opened
        self.stream = opened.stream
        self.transport = request.transport
        self.keepalive_s = keepalive_s
        self.write_timeout_s = max(2 * keepalive_s, 10.0)
        self.writing = False
        self.response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",  # a proxy in front must not hold events back
            }
        )
        self.stream.on_drop = self.cut
        _cap_send_buffer(self.transport)
        self._room = _low_water(self.transport)

    def cut(self, reason: str = "") -> None:
        """Abort the connection: a write the client does not take ends at once."""
        if self.transport is not None:
            self.transport.abort()

    async def write(self, data: bytes) -> None:
        transport = self.transport
        if (
            transport is not None
            and not transport.is_closing()
            and transport.get_write_buffer_size() + len(data) + CHUNK_FRAMING_BYTES <= self._room
        ):
            # Buffered under the low-water mark, with this write too, the transport is not
            # paused and does not pause: the write (and any drain aiohttp makes in it)
            # cannot wait, so it needs no timer (a hundred streams write up to twenty
            # times a second each). Between the marks a paused transport could hold it.
            await self.response.write(data)
            return
        self.writing = True
        try:
            async with asyncio.timeout(self.write_timeout_s):
                await self.response.write(data)
        except TimeoutError:
            self.stream.end(f"the client took no data for {self.write_timeout_s:g} s")
            log.warning(
                "action=event_stream_dropped user=%s reason=%r", self.stream.who, self.stream.ended
            )
            self.cut()
            raise ConnectionResetError(self.stream.ended) from None
        finally:
            self.writing = False

    async def serve(self, after: int | None) -> web.StreamResponse:
        """The replay (or the missed notice), then events as they come, until the end."""
        opened, stream = self.opened, self.stream
        await self.response.prepare(self.request)
        first = [b"retry: 2000\n\n"]
        if opened.missed and after is not None:
            first.append(missed_message(opened.last_seq, after))
        first.extend(item.frame for item in opened.replay)
        await self.write(b"".join(first))
        step_s = min(LIVENESS_S, self.keepalive_s)
        idle_s = 0.0
        while True:
            items = await stream.next(step_s)
            if items is None:
                return self.response  # ended: the dispatcher is shutting down
            if items:
                idle_s = 0.0
                await self.write(b"".join(item.frame for item in items))
                continue
            transport = self.request.transport
            if transport is None or transport.is_closing():
                return self.response  # the client went away
            idle_s += step_s
            if idle_s >= self.keepalive_s:
                idle_s = 0.0
                await self.write(b": keep-alive\n\n")


CONNECTIONS: web.AppKey[set[_Connection]] = web.AppKey("event_connections", set)


@routes.get("/api/v1/events", query=EventsQuery, content_type="text/event-stream")
async def follow_events(request: web.Request) -> web.StreamResponse:
    """Follow the farm's change events (server-sent events, resumable).

    Filters `job`, `node`, `kind` (repeat or comma-separate values); resume with the
    `Last-Event-ID` header or `last_event_id`. The stream never ends by itself: it
    ends when the client closes it or the dispatcher shuts down.
    """
    ops, actor = operations(request)
    query = read_events_query(request)
    after = resume_point(request, query)
    opened = ops.events.open_stream(
        actor, jobs=query.job, nodes=query.node, kinds=query.kind, after=after
    )
    connection = _Connection(request, opened, ops.events.keepalive_s(actor))
    connections = request.app[CONNECTIONS]
    connections.add(connection)
    try:
        return await connection.serve(after)
    except ConnectionError:
        return connection.response  # the client went away, or was dropped as too slow
    finally:
        opened.stream.end("the client went away")
        connections.discard(connection)


async def _end_streams(app: web.Application) -> None:
    """On shutdown: every stream ends cleanly; a write stuck on a client that reads
    nothing is cut, so the server's shutdown never waits for it."""
    from dispatcher.web.app import OPERATIONS

    app[OPERATIONS].events.end_streams(SHUTDOWN_REASON)
    for connection in list(app[CONNECTIONS]):
        if connection.writing:
            connection.cut()


def add_routes(app: web.Application) -> None:
    app[CONNECTIONS] = set()
    app.on_shutdown.append(_end_streams)
    routes.add_to(app)
