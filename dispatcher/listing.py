"""Listings that never hold the loop: one wire shape for every list the dispatcher serves.

The answer is a bare JSON list. `?limit=N` returns at most N items and, when more
follow, a `Link: <URL>; rel="next"` header whose URL carries an opaque `after=`
cursor (the last key of the page). Without `limit` the whole list is returned,
streamed: built, encoded and written in slices, the loop running other work
between slices, so no listing holds the loop longer than one slice takes
(a few milliseconds) however long the list is.

A listing is a `Selection` (candidate keys in ascending order from an ordered
index, and the test each must pass) and a `render` function that turns a slice
of keys into the items to send. `respond()` serves it over HTTP; `collect()`
builds the whole list in slices for callers that need it in memory (the hook API).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import inspect
import logging
import re
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from dispatcher.errors import ValidationError
from dispatcher.indexes import SortedIds
from dispatcher.model import CHUNK_CODE, ROOT_PARENT, Job, Status, parse_id
from dispatcher.views import chunk_views, iso, job_view, outcome_fields

if TYPE_CHECKING:
    from dispatcher.queue import Queue
    from dispatcher.store import Store

log = logging.getLogger(__name__)

MAX_LIMIT = 10_000
"""The largest `?limit=`; a longer list is asked for without a limit (it is streamed)."""

JOB_SLICE = 25
CHUNK_SLICE = 1_000
NODE_SLICE = 50
"""Items per slice: each slice takes at most a few milliseconds to build and encode (a
job's answer is about a kilobyte and 6 µs: a console's 100-job page is four slices, the
loop running dispatch between them)."""

WHOLE_PAGE_SLICES = 8
"""A page of at most this many slices is sent whole, with a Content-Length; a longer one
(a `limit` in the thousands) is streamed like a whole list, never held in memory at once."""

WRITE_BYTES = 131_072
"""A page answer is written this much at a time, the loop running other work between
writes (a console's 100-job page, about 100 KB, goes in one: each turn of the loop it
waited would add a turn's time to its answer)."""

SCAN_BUDGET = 2_000
"""Candidates a filter examines before the loop gets a turn, even when none matched."""

NextKeys = Callable[[int, int], Sequence[int]]
"""(after, count) -> up to `count` candidate keys greater than `after`, ascending."""

Render = Callable[[list[int]], "list[Any] | Awaitable[list[Any]]"]
"""A slice of keys -> the items to send (keys whose object went since are left out)."""

_encoder = msgspec.json.Encoder()
_CURSOR = re.compile(rb"k(-?\d{1,19})")


# -- cursors and the query ------------------------------------------------------
def encode_cursor(key: int) -> str:
    """The opaque `after=` value for a page that ended at `key` (base64url, unpadded)."""
    return base64.urlsafe_b64encode(b"k%d" % key).rstrip(b"=").decode("ascii")


def decode_cursor(text: str) -> int:
    """The key an `after=` cursor names; ValidationError naming `after` when it is not one."""
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    found = _CURSOR.fullmatch(raw)
    if found is None:
        raise ValidationError(
            f"after: {text[:64]!r} is not a cursor; use the one in the Link header of the "
            "previous page",
            field="after",
        )
    return int(found.group(1))


@dataclass(frozen=True, slots=True)
class PageQuery:
    """What a request asks of a listing: at most `limit` items (None: all), after `after`."""

    limit: int | None = None
    after: int = -1

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> PageQuery:
        limit = None
        text = query.get("limit")
        if text is not None:
            limit = parse_id(text)
            if limit is None or not 1 <= limit <= MAX_LIMIT:
                raise ValidationError(
                    f"limit: {text[:32]!r} is not a whole number from 1 to {MAX_LIMIT:,}",
                    field="limit",
                )
        after = query.get("after")
        return cls(limit, -1 if after is None else decode_cursor(after))


class PageParams(BaseModel):
    """The query of every listing, as the API document shows it (PageQuery.parse checks it)."""

    model_config = ConfigDict(extra="allow")

    limit: int | None = Field(None, ge=1, le=MAX_LIMIT, description="at most this many items")
    after: str | None = Field(None, description="the cursor of the previous page's Link header")


class JobQuery(PageParams):
    """Filters of the job listing; several must all match."""

    state: Status | None = None
    user: str | None = None
    owner: str | None = Field(None, description="the same as user")
    parent: int | None = Field(None, description="a folder id; -1 or 0 is the top")
    template: str | None = Field(None, description="a template key or id")
    hidden: bool | None = Field(
        None, description="false: leave hidden jobs out; true: only them; absent: all jobs"
    )
    where: str | None = Field(
        None,
        description='a Smedge query as JSON, e.g. ["Priority", "<", 50] (docs/rest.md, "Queries")',
        max_length=4_096,  # dispatcher/query: MAX_QUERY_CHARS
    )


class ChunkQuery(PageParams):
    """The filter of a job's chunk listing."""

    state: Status | None = None


# -- selecting keys -------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Selection:
    """The candidate keys of a listing, in order, and the test each must pass (None: all)."""

    next_keys: NextKeys
    match: Callable[[int], bool] | None = None

    @classmethod
    def of(cls, ids: SortedIds, match: Callable[[int], bool] | None = None) -> Selection:
        return cls(ids.after, match)

    @classmethod
    def of_keys(cls, keys: Iterable[int]) -> Selection:
        """Over a snapshot of keys taken now (small collections, such as the nodes)."""
        ids = SortedIds()
        for key in sorted(keys):
            ids.add(key)
        return cls.of(ids)


async def select(
    selection: Selection, *, after: int = -1, limit: int | None = None, slice_items: int
) -> AsyncIterator[list[int]]:
    """The matching keys after `after`, in slices of at most `slice_items`, `limit` in all.

    Each step starts again from the last key it saw, so jobs added or removed while a
    listing runs never break it; a filter gives the loop a turn every `SCAN_BUDGET`
    candidates even when none matched.
    """
    match, cursor, taken = selection.match, after, 0
    while limit is None or taken < limit:
        want = slice_items if limit is None else min(slice_items, limit - taken)
        found: list[int] = []
        scanned = 0
        exhausted = False
        while len(found) < want and scanned < SCAN_BUDGET:
            step = want - len(found) if match is None else max(64, want - len(found))
            batch = selection.next_keys(cursor, step)
            if not batch:
                exhausted = True
                break
            if match is None:
                found.extend(batch)
                cursor = batch[-1]
                scanned += len(batch)
                continue
            for key in batch:
                cursor = key
                scanned += 1
                if match(key):
                    found.append(key)
                    if len(found) == want:
                        break
        if found:
            taken += len(found)
            yield found
        if exhausted:
            return
        if not found:
            await asyncio.sleep(0)


async def _slices_of(keys: list[int], slice_items: int) -> AsyncIterator[list[int]]:
    """`keys` a slice at a time, the loop given a turn between slices."""
    for start in range(0, len(keys), slice_items):
        if start:
            await asyncio.sleep(0)
        yield keys[start : start + slice_items]


async def _rendered(slices: AsyncIterator[list[int]], render: Render) -> AsyncIterator[list[Any]]:
    async for keys in slices:
        items = render(keys)
        if inspect.isawaitable(items):
            items = await items
        if items:
            yield items


# -- answering ------------------------------------------------------------------
async def respond(
    request: web.Request, selection: Selection, render: Render, *, slice_items: int
) -> web.StreamResponse:
    """Serve a listing: a page when the request has `limit` (built a slice at a time, the
    loop running dispatch between slices, and sent whole with a Content-Length, unless it
    is longer than `WHOLE_PAGE_SLICES` slices), else the whole list, streamed."""
    page = PageQuery.parse(request.query)
    headers: dict[str, str] = {}
    if page.limit is None:
        slices = select(selection, after=page.after, slice_items=slice_items)
    else:
        keys = [
            key
            async for found in select(
                selection, after=page.after, limit=page.limit + 1, slice_items=slice_items
            )
            for key in found
        ]
        if len(keys) > page.limit:
            del keys[page.limit :]
            headers["Link"] = f'<{next_url(request, keys[-1])}>; rel="next"'
        if len(keys) <= WHOLE_PAGE_SLICES * slice_items:
            body = await encode_page(keys, render, slice_items=slice_items)
            return await page_json(request, body, headers=headers)
        slices = _slices_of(keys, slice_items)
    return await stream_json(request, _rendered(slices, render), headers=headers)


def next_url(request: web.Request, last: int) -> str:
    """The URL of the page after the one that ended at `last` (relative: path and query)."""
    return str(request.rel_url.update_query(after=encode_cursor(last)))


async def stream_json(
    request: web.Request,
    slices: AsyncIterator[list[Any]],
    *,
    headers: Mapping[str, str] | None = None,
) -> web.StreamResponse:
    """Write the items of `slices` as one JSON list, a slice at a time.

    A list of one slice is sent as an ordinary answer with a Content-Length; a longer
    one is streamed (chunked), the loop running other work between slices. Once the
    answer has started, an error can no longer become problem+json: it is logged and
    the connection closed, so the client sees a truncated list, never a complete wrong one.
    """
    first = await anext(slices, None)
    second = await anext(slices, None) if first is not None else None
    if second is None:
        return web.Response(
            body=_encoder.encode(first or []), content_type="application/json", headers=headers
        )
    response = web.StreamResponse(headers=headers)
    response.content_type = "application/json"
    await response.prepare(request)
    with _started(request):
        await response.write(b"[" + _encoder.encode(first)[1:-1])
        pending: list[Any] | None = second
        while pending is not None:
            await asyncio.sleep(0)
            await response.write(b"," + _encoder.encode(pending)[1:-1])
            pending = await anext(slices, None)
        await response.write(b"]")
        await response.write_eof()
    return response


@contextlib.contextmanager
def _started(request: web.Request) -> Iterator[None]:
    """Around writing an answer already started: a client gone is logged; any other
    error is logged and the connection closed (it can no longer become problem+json)."""
    try:
        yield
    except ConnectionError:
        log.info("action=listing_client_gone path=%s", request.path)
    except Exception:
        log.exception("action=listing_aborted path=%s; the connection is closed", request.path)
        if request.transport is not None:
            request.transport.close()


async def encode_page(keys: list[int], render: Render, *, slice_items: int) -> bytes:
    """The items of `keys` (a page: a bounded list) as one JSON list, rendered and encoded
    `slice_items` at a time, the loop given a turn between slices."""
    slices = _rendered(_slices_of(keys, slice_items), render)
    parts = [_encoder.encode(items)[1:-1] async for items in slices]
    return b"[" + b",".join(parts) + b"]"


async def page_json(
    request: web.Request, body: bytes, *, headers: Mapping[str, str] | None = None
) -> web.StreamResponse:
    """Answer with a page's JSON `body` and its Content-Length, written `WRITE_BYTES` at
    a time, the loop running other work between writes. An error after the answer has
    started is logged and the connection closed (see stream_json)."""
    if len(body) <= WRITE_BYTES:
        return web.Response(body=body, content_type="application/json", headers=headers)
    response = web.StreamResponse(headers=headers)
    response.content_type = "application/json"
    response.content_length = len(body)
    await response.prepare(request)
    view = memoryview(body)
    with _started(request):
        for start in range(0, len(body), WRITE_BYTES):
            if start:
                await asyncio.sleep(0)
            await response.write(view[start : start + WRITE_BYTES])
        await response.write_eof()
    return response


async def collect(selection: Selection, render: Render, *, slice_items: int) -> list[Any]:
    """The whole list in memory, built in slices that give the loop a turn between them."""
    items: list[Any] = []
    async for found in _rendered(select(selection, slice_items=slice_items), render):
        items.extend(found)
        await asyncio.sleep(0)
    return items


# -- the queue's listings -------------------------------------------------------
def job_selection(
    queue: Queue, query: Mapping[str, str], *, template_key: Callable[[str], str] | None = None
) -> Selection:
    """The jobs a query asks for: filters `state`, `user` (or `owner`), `parent`,
    `template` (a key, or an id that `template_key` turns into one) and `hidden`, all of
    them at once.

    The smallest of the filters' indexes gives the candidates; each candidate is
    tested against the live job, so a job that changed while the listing ran is
    shown only where it now belongs.
    """
    index = queue.index
    sets: list[SortedIds] = []
    tests: list[Callable[[Job], bool]] = []
    state_text = query.get("state")
    if state_text is not None:
        state = _status(state_text)
        sets.append(index.state.ids(state))
        tests.append(lambda job: job.state is state)
    user = _one_of(query, "user", "owner")
    if user is not None:
        sets.append(index.user.ids(user))
        tests.append(lambda job: job.user == user)
    parent_text = query.get("parent")
    if parent_text is not None:
        parent = _parent(parent_text)
        sets.append(index.parent.ids(parent))
        tests.append(lambda job: job.parent == parent)
    template = query.get("template")
    if template is not None:
        template = template_key(template) if template_key is not None else template
        sets.append(index.template.ids(template))
        tests.append(lambda job: job.template == template)
    hidden_text = query.get("hidden")
    if hidden_text is not None:
        hidden = _flag(hidden_text, "hidden")
        if hidden:
            sets.append(index.hidden)  # few: the candidates are these alone
        tests.append(lambda job: job.hidden is hidden)
    jobs = queue.jobs
    if not tests:
        return Selection.of(index.all)

    def match(key: int) -> bool:
        job = jobs.get(key)
        return job is not None and all(test(job) for test in tests)

    return Selection.of(min(sets, key=len) if sets else index.all, match)


def job_render(queue: Queue) -> Render:
    """Keys -> REST job views (jobs deleted since are left out)."""
    jobs = queue.jobs

    def render(keys: list[int]) -> list[Any]:
        return [job_view(job) for key in keys if (job := jobs.get(key)) is not None]

    return render


def chunk_selection(job: Job, query: Mapping[str, str]) -> Selection:
    """A job's chunks by index, filtered by `state` (queued, running, done, failed, skipped)."""
    state_text = query.get("state")
    code = None if state_text is None else CHUNK_CODE.get(_status(state_text))
    if state_text is not None and code is None:
        known = ", ".join(status.value for status in CHUNK_CODE)
        raise ValidationError(
            f"state: a chunk is never {state_text!r}; one of {known}", field="state"
        )

    def next_keys(after: int, count: int) -> Sequence[int]:
        start = after + 1
        if code is None:
            return range(start, min(start + count, job.chunk_count))
        status, found = job.chunk_status, []
        while len(found) < count:
            at = status.find(code, start)
            if at < 0:
                break
            found.append(at)
            start = at + 1
        return found

    return Selection(next_keys)


def chunk_render(store: Store, queue: Queue, job: Job) -> Render:
    """Keys -> REST chunk views with their latest attempt's times, read for these chunks only."""
    names = {node.id: node.label for node in queue.nodes.values()}

    async def render(keys: list[int]) -> list[Any]:
        latest = {run[1]: run for run in await store.runs(job.id, keys)}  # ordered: last wins
        views = chunk_views(job, keys, names)
        for view in views:
            run = latest.get(view["id"])
            view.update(
                time_started=iso(run[5]) if run else None,
                time_finished=iso(run[6]) if run else None,
                exit_code=run[7] if run else None,
                error=run[8] if run else "",
            )
            view.update(
                outcome_fields(view["state"], run, queue.running_progress(job.id, view["id"]))
            )
        return views

    return render


def _status(text: str) -> Status:
    try:
        return Status(text)
    except ValueError:
        known = ", ".join(status.value for status in Status)
        raise ValidationError(
            f"state: unknown state {text[:64]!r}; one of {known}", field="state"
        ) from None


def _flag(text: str, name: str) -> bool:
    """A boolean query value as pydantic reads one (true/false, 1/0, yes/no, on/off)."""
    value = _FLAGS.get(text.strip().lower())
    if value is None:
        raise ValidationError(f"{name}: {text[:32]!r} is not true or false", field=name)
    return value


_FLAGS = {"true": True, "t": True, "1": True, "yes": True, "y": True, "on": True,
          "false": False, "f": False, "0": False, "no": False, "n": False, "off": False}  # fmt: skip


def _one_of(query: Mapping[str, str], name: str, alias: str) -> str | None:
    value, other = query.get(name), query.get(alias)
    if value is not None and other is not None and value != other:
        raise ValidationError(f"{alias}: differs from {name}; give one of them", field=alias)
    return value if value is not None else other


def _parent(text: str) -> int:
    value = parse_id(text, signed=True)
    if value is None:
        raise ValidationError(f"parent: {text[:32]!r} is not a folder id", field="parent")
    return ROOT_PARENT if value in (0, -1) else value


__all__ = [
    "MAX_LIMIT",
    "chunk_render",
    "chunk_selection",
    "job_render",
    "job_selection",
    "PageQuery",
    "Selection",
    "collect",
    "decode_cursor",
    "encode_cursor",
    "encode_page",
    "next_url",
    "page_json",
    "respond",
    "select",
    "stream_json",
]
