"""Running a query over many jobs: in order, after a cursor, up to a limit, in slices that
give the loop back, and within its time budget."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from dispatcher.errors import Busy
from dispatcher.indexes import SortedIds
from dispatcher.listing import Selection
from dispatcher.model import Job
from dispatcher.query import Query, matching_keys, parse_query


def _jobs(count: int) -> dict[int, Job]:
    return {n: Job(id=n, title=f"job {n}", priority=n % 100) for n in range(1, count + 1)}


def _slow_query(test: Callable[[Job], bool]) -> Query:
    """A query whose check of a job is `test` (the row carries the job itself)."""
    return Query(reads=(lambda job: job,), test=lambda row: test(row[0]), terms=1)


def _selection(jobs: dict[int, Job], match: object = None) -> Selection:
    ids = SortedIds()
    for key in jobs:
        ids.add(key)
    return Selection(ids.after, match)  # type: ignore[arg-type]


async def test_keys_come_in_order_after_the_cursor_up_to_the_limit() -> None:
    jobs = _jobs(1000)
    query = parse_query(["Priority", "<", 10])
    found = await matching_keys(query, _selection(jobs), jobs, budget_s=5.0)
    assert found == [n for n in range(1, 1001) if n % 100 < 10]
    page = await matching_keys(query, _selection(jobs), jobs, budget_s=5.0, after=105, limit=3)
    assert page == [106, 107, 108]
    odd = _selection(jobs, lambda key: key % 2 == 1)
    assert await matching_keys(query, odd, jobs, budget_s=5.0, limit=4) == [1, 3, 5, 7]
    del jobs[3]  # a job deleted while the listing ran is left out
    assert await matching_keys(query, _selection(jobs), jobs, budget_s=5.0, limit=3) == [1, 2, 4]


async def test_a_slow_query_gives_the_loop_back_between_slices() -> None:
    jobs = _jobs(3000)

    def slow(job: Job) -> bool:
        time.sleep(0.0002)  # a costly test: 0.6 s for all the jobs
        return job.id % 7 == 0

    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.monotonic()
        while not done.is_set():
            await asyncio.sleep(0)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    found = await matching_keys(_slow_query(slow), _selection(jobs), jobs, budget_s=30.0)
    done.set()
    await ticking
    assert found == [n for n in range(1, 3001) if n % 7 == 0]
    # Held for the whole run, the loop would stop 0.6 s; the bound leaves room for a
    # loaded machine's scheduling (50 ms failed there now and then).
    assert len(gaps) > 20 and max(gaps) < 0.3


async def test_checks_run_off_the_loop_and_share_bounded_slots() -> None:
    jobs = _jobs(6)

    def stuck(job: Job) -> bool:
        time.sleep(0.15)  # as a long search of a long text would take
        return job.id == 4

    ticks: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            ticks.append(time.monotonic())
            await asyncio.sleep(0.005)

    slots = asyncio.Semaphore(1)
    ticking = asyncio.create_task(ticker())
    started = time.monotonic()
    found = await asyncio.gather(
        matching_keys(_slow_query(stuck), _selection(jobs), jobs, budget_s=30.0, slots=slots),
        matching_keys(_slow_query(stuck), _selection(jobs), jobs, budget_s=30.0, slots=slots),
    )
    took = time.monotonic() - started
    done.set()
    await ticking
    assert found == [[4], [4]]
    assert took > 12 * 0.15 * 0.9  # one slot: the two queries' checks took turns
    assert max(b - a for a, b in zip(ticks, ticks[1:], strict=False)) < 0.1


async def test_a_query_past_its_budget_is_busy_naming_the_setting() -> None:
    jobs = _jobs(2000)

    def slow(job: Job) -> bool:
        time.sleep(0.001)
        return True

    started = time.monotonic()
    with pytest.raises(Busy) as caught:
        await matching_keys(_slow_query(slow), _selection(jobs), jobs, budget_s=0.1)
    assert time.monotonic() - started < 1.0
    assert caught.value.limit == "query_budget_s" and "time budget of 0.1 s" in str(caught.value)
