"""Listings: cursors, limits, key selection over the queue's indexes, on the in-memory store.

The indexes are checked against a brute-force filter of every job after each of the
queue's changes (submit, edit, attempts and results, chunk status, reinit, delete,
replace_all, load)."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from typing import Any

import pytest

from dispatcher import jobspec, listing
from dispatcher.errors import ValidationError
from dispatcher.indexes import SortedIds
from dispatcher.jobspec import parse_spec
from dispatcher.model import CHUNK_QUEUED, CHUNK_RUNNING, ROOT_PARENT, Job, JobKind, Status
from dispatcher.protocol import Result
from dispatcher.queue import Queue
from dispatcher.store.memory import MemoryStore
from dispatcher.store.sqlite import Snapshot
from dispatcher.views import chunk_view, chunk_views, iso

USERS = ("ann", "bob", "cy")
TEMPLATES = ("cmdline", "blender")


# -- cursors and the query ------------------------------------------------------
def test_a_cursor_round_trips_and_is_opaque() -> None:
    for key in (0, 1, 99, 1_000_000, 2**40):
        text = listing.encode_cursor(key)
        assert str(key) not in text  # opaque: not the bare key
        assert text.isascii() and "=" not in text and "/" not in text and "+" not in text
        assert listing.decode_cursor(text) == key


@pytest.mark.parametrize("text", ["", "12", "!!!", "a2", listing.encode_cursor(5) + "!", "aw=="])
def test_a_bad_cursor_is_refused_naming_after(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        listing.decode_cursor(text)
    assert caught.value.field == "after"


@pytest.mark.parametrize("text", ["0", "-1", "abc", "1.5", "10001", "", "\u0663", " 5"])
def test_a_bad_limit_is_refused_naming_limit(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        listing.PageQuery.parse({"limit": text})
    assert caught.value.field == "limit"


def test_page_query_defaults_to_everything() -> None:
    assert listing.PageQuery.parse({}) == listing.PageQuery(None, -1)
    cursor = listing.encode_cursor(41)
    assert listing.PageQuery.parse({"limit": "7", "after": cursor}) == listing.PageQuery(7, 41)


# -- selecting keys -------------------------------------------------------------
def test_sorted_ids_keep_order_whatever_the_insertion_order() -> None:
    ids = SortedIds()
    values = random.Random(3).sample(range(1000), 300)
    for value in values:
        ids.add(value)
    ids.add(values[0])  # twice: still once
    for value in values[:100]:
        ids.discard(value)
    ids.discard(5000)  # absent: nothing happens
    assert list(ids) == sorted(values[100:])
    assert ids.after(-1, 3) == sorted(values[100:])[:3]
    middle = sorted(values[100:])[50]
    assert ids.after(middle, 2) == sorted(values[100:])[51:53]


async def _keys(selection: listing.Selection, **kwargs: Any) -> list[list[int]]:
    return [found async for found in listing.select(selection, **kwargs)]


async def test_select_slices_limits_and_resumes_after_a_key() -> None:
    ids = SortedIds()
    for key in range(1, 26):
        ids.add(key)
    selection = listing.Selection.of(ids)
    assert await _keys(selection, slice_items=10) == [
        list(range(1, 11)), list(range(11, 21)), list(range(21, 26))
    ]  # fmt: skip
    assert await _keys(selection, limit=12, slice_items=10) == [
        list(range(1, 11)), [11, 12]
    ]  # fmt: skip
    assert await _keys(selection, after=20, slice_items=10) == [list(range(21, 26))]
    assert await _keys(selection, after=25, slice_items=10) == []


async def test_a_filter_that_matches_rarely_still_gives_the_loop_turns() -> None:
    ids = SortedIds()
    for key in range(20_000):
        ids.add(key)
    selection = listing.Selection.of(ids, lambda key: key % 7_000 == 6_999)
    assert await _keys(selection, slice_items=100) == [[6_999], [13_999]]


async def test_a_page_is_encoded_a_slice_at_a_time_giving_the_loop_turns() -> None:
    seen: list[str] = []  # slices rendered and turns of another task, in order

    def render(keys: list[int]) -> list[Any]:
        seen.append("slice")
        return [{"id": key, "name": f"job {key}"} for key in keys if key != 4]

    async def other() -> None:
        for _ in range(10):
            seen.append("turn")
            await asyncio.sleep(0)

    task = asyncio.create_task(other())
    body = await listing.encode_page(list(range(9)), render, slice_items=3)
    await task
    assert json.loads(body) == [{"id": key, "name": f"job {key}"} for key in range(9) if key != 4]
    rendered = [at for at, what in enumerate(seen) if what == "slice"]
    assert len(rendered) == 3
    assert all("turn" in seen[a:b] for a, b in itertools.pairwise(rendered)), seen

    async def gone(keys: list[int]) -> list[Any]:  # every job deleted meanwhile
        return []

    assert await listing.encode_page(list(range(9)), gone, slice_items=3) == b"[]"
    assert await listing.encode_page([], render, slice_items=3) == b"[]"


# -- the queue's indexes ----------------------------------------------------------
def _brute(queue: Queue, **filters: Any) -> list[int]:
    def keep(job: Job) -> bool:
        return all(
            (
                job.state.value if name == "state" else getattr(job, name)
            ) == value
            for name, value in filters.items()
        )  # fmt: skip

    return sorted(job.id for job in queue.jobs.values() if keep(job))


async def _listed(queue: Queue, query: dict[str, str]) -> list[int]:
    selection = listing.job_selection(queue, query)
    return [key async for found in listing.select(selection, slice_items=7) for key in found]


async def _check_every_filter(queue: Queue) -> None:
    parents = {ROOT_PARENT, *(job.id for job in queue.jobs.values() if job.kind is JobKind.FOLDER)}
    unfinished = sum(
        job.counts[CHUNK_QUEUED] + job.counts[CHUNK_RUNNING] for job in queue.jobs.values()
    )
    assert queue.unfinished_chunks() == unfinished  # summed through the state index
    assert await _listed(queue, {}) == _brute(queue)
    for state in Status:
        assert await _listed(queue, {"state": state.value}) == _brute(queue, state=state.value)
    for user in USERS:
        assert await _listed(queue, {"user": user}) == _brute(queue, user=user)
        assert await _listed(queue, {"owner": user}) == _brute(queue, user=user)
    for parent in parents:
        assert await _listed(queue, {"parent": str(parent)}) == _brute(queue, parent=parent)
    for template in TEMPLATES:
        assert await _listed(queue, {"template": template}) == _brute(queue, template=template)
    for hidden in (True, False):
        text = str(hidden).lower()
        assert await _listed(queue, {"hidden": text}) == _brute(queue, hidden=hidden)
        for user in USERS:
            query = {"hidden": text, "user": user}
            assert await _listed(queue, query) == _brute(queue, hidden=hidden, user=user)
    for state in (Status.RUNNING, Status.QUEUED):
        for user in USERS:
            query = {"state": state.value, "user": user, "template": "cmdline"}
            expected = _brute(queue, state=state.value, user=user, template="cmdline")
            assert await _listed(queue, query) == expected


def _submit(queue: Queue, rng: random.Random, folders: list[int]) -> Job:
    spec = parse_spec(
        {"title": "j", "frames": f"1-{rng.randint(1, 6)}", "command": ["/bin/true"],
         "template": rng.choice(TEMPLATES), "parent": rng.choice([ROOT_PARENT, *folders]),
         "user": rng.choice(USERS), "hidden": rng.random() < 0.2}
    )  # fmt: skip
    return queue.submit([spec], spec.user or "ann")[0]


async def test_the_indexes_match_a_brute_force_filter_through_every_change() -> None:
    rng = random.Random(11)
    queue = Queue(MemoryStore())
    folder = parse_spec({"title": "f", "kind": "folder", "user": "ann"})
    folders = [job.id for job in queue.submit([folder, folder], "ann")]
    for _ in range(40):
        _submit(queue, rng, folders)
    await _check_every_filter(queue)
    for step in range(300):
        jobs = [job for job in queue.jobs.values() if job.kind is JobKind.JOB]
        job = rng.choice(jobs)
        action = rng.randrange(8)
        if action == 0 and job.cursor < job.chunk_count:
            queue.start_attempt(job, job.cursor, node_id=1)
        elif action == 1 and queue.running:
            (job_id, index), running = rng.choice(sorted(queue.running.items()))
            ref = next(r for r in queue.runs_on(1) if (r.job, r.chunk) == (job_id, index))
            result = Result(ref=ref, ok=rng.random() < 0.7, killed=rng.random() < 0.2)
            queue.finish_attempt(result, running.node_id)
        elif action == 2:
            changes: dict[str, object] = rng.choice(
                [{"paused": not job.paused}, {"user": rng.choice(USERS)},
                 {"parent": rng.choice([ROOT_PARENT, *folders])},
                 {"template": rng.choice(TEMPLATES)}, {"hidden": not job.hidden}]
            )  # fmt: skip
            queue.edit(job, changes)
        elif action == 3:
            status = rng.choice([Status.DONE, Status.SKIPPED, Status.QUEUED])
            queue.set_chunk_status(job, rng.randrange(job.chunk_count), status)
        elif action == 4 and step % 5 == 0:
            queue.reinit(job)
        elif action == 5 and step % 4 == 0:
            queue.delete(job)
        elif action == 6:
            _submit(queue, rng, folders)
        if step % 25 == 0:
            await _check_every_filter(queue)
    await _check_every_filter(queue)

    # A snapshot import replaces everything; a restart loads it.
    kept = list(queue.jobs.values())[::2]
    queue.replace_all(kept)
    await _check_every_filter(queue)
    again = Queue(MemoryStore())
    again.load(Snapshot(jobs=list(queue.jobs.values()), nodes=[], users={}, meta={}))
    await _check_every_filter(again)


async def test_a_filter_value_that_is_not_known_is_refused_naming_it() -> None:
    queue = Queue(MemoryStore())
    for query, field in (({"state": "sleeping"}, "state"), ({"parent": "x"}, "parent"),
                         ({"user": "a", "owner": "b"}, "owner"), ({"hidden": "maybe"}, "hidden"),
                         ({"hidden": ""}, "hidden")):  # fmt: skip
        with pytest.raises(ValidationError) as caught:
            listing.job_selection(queue, query)
        assert caught.value.field == field


async def test_chunks_are_selected_by_index_and_state() -> None:
    queue = Queue(MemoryStore())
    job = queue.submit([parse_spec({"title": "c", "frames": "1-50", "command": ["x"]})], "a")[0]
    done = [3, 4, 17, 49]
    for index in done:
        queue.set_chunk_status(job, index, Status.DONE)
    all_keys = listing.chunk_selection(job, {})
    assert [k async for found in listing.select(all_keys, slice_items=8) for k in found] == list(
        range(50)
    )
    by_state = listing.chunk_selection(job, {"state": "done"})
    assert await _keys(by_state, slice_items=3) == [[3, 4, 17], [49]]
    assert await _keys(by_state, after=4, limit=1, slice_items=3) == [[17]]
    with pytest.raises(ValidationError) as caught:
        listing.chunk_selection(job, {"state": "paused"})  # a job state, never a chunk's
    assert caught.value.field == "state"


async def test_a_reinitialised_job_is_listed_as_queued_again() -> None:
    queue = Queue(MemoryStore())
    job = queue.submit([parse_spec({"title": "r", "frames": "1-2", "command": ["x"]})], "a")[0]
    queue.set_chunk_status(job, 0, Status.DONE)
    queue.set_chunk_status(job, 1, Status.DONE)
    assert await _listed(queue, {"state": "done"}) == [job.id]
    queue.reinit(job)
    assert await _listed(queue, {"state": "done"}) == []
    assert await _listed(queue, {"state": "queued"}) == [job.id]


def test_iso_is_the_text_datetime_gives() -> None:
    import datetime

    rng = random.Random(5)
    values = [0.0, 1.5, -1.5, 1e9, 1_700_000_000.9999995, 1_700_000_000.0000005, -0.0000004]
    values += [rng.uniform(-2e9, 4e9) for _ in range(20_000)]
    values += [round(rng.uniform(0, 2e9), rng.randrange(0, 7)) for _ in range(20_000)]
    for value in values:
        expected = datetime.datetime.fromtimestamp(value, datetime.UTC).isoformat()
        assert iso(value) == expected, value
    assert iso(None) is None


@pytest.mark.parametrize("value", [1e300, -1e300, float("nan"), float("inf"), -7e10, 3e11])
def test_iso_of_a_time_no_datetime_can_show_is_none(value: float) -> None:
    assert iso(value) is None


@pytest.mark.parametrize(
    ("start", "end", "by", "batch"),
    [(1, 1003, 1, 10), (-5, 40, 3, 4), (1, 2, 0.5, 2), (0.25, 3.75, 0.25, 3)],
)
def test_chunk_views_are_chunk_view_for_every_chunk(
    start: float, end: float, by: float, batch: int
) -> None:
    spec = jobspec.parse_spec(
        {"title": "t", "template": "cmdline", "start": start, "end": end, "by": by,
         "batch": batch, "command": ["x"]}
    )  # fmt: skip
    job = jobspec.build_job(spec, 7, 1, "u")
    job.chunk_nodes[1] = 3
    names = {3: "box#1"}
    indexes = [*range(job.chunk_count), job.chunk_count, job.chunk_count + 5]
    assert chunk_views(job, indexes, names) == [
        chunk_view(job, index, names) for index in range(job.chunk_count)
    ]
