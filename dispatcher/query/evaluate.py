"""Running a query over the queue's jobs without holding the loop.

The candidates come from a listing's Selection (its own filters first). For a slice of
at most SLICE_JOBS jobs and SLICE_S seconds, the loop reads the values the query's
terms test (cheap, and safe from the jobs' later changes: checks.py); a worker thread
then checks them, regular expressions and all, while the loop goes on serving. RE2
releases the interpreter while it searches, so even a search of a long text holds
nothing else up. The whole run has a time budget: past it the query ends with Busy
(503), whatever it found dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from typing import Any

from dispatcher.errors import Busy
from dispatcher.listing import Selection
from dispatcher.model import Job
from dispatcher.query.grammar import Query

SLICE_JOBS = 256
SLICE_S = 0.005
CHECKERS = 2
"""Worker threads checking slices at once, over all queries: more queries wait their
turn (within their budgets), so queries never crowd out the other work threads do."""


def checkers() -> asyncio.Semaphore:
    """The bound on slices being checked at once (one per dispatcher, CHECKERS wide)."""
    return asyncio.Semaphore(CHECKERS)


async def matching_keys(
    query: Query,
    selection: Selection,
    jobs: Mapping[int, Job],
    *,
    budget_s: float,
    after: int = -1,
    limit: int | None = None,
    slots: asyncio.Semaphore | None = None,
    slice_jobs: int = SLICE_JOBS,
    slice_s: float = SLICE_S,
) -> list[int]:
    """The keys after `after` that pass the selection's test and the query, in order, at
    most `limit` of them; Busy when the run takes longer than `budget_s` seconds.
    `slots` bounds the worker threads checking at once (none: no bound)."""
    clock = time.monotonic
    deadline = clock() + budget_s
    base, read = selection.match, query.read
    found: list[int] = []
    cursor, tested = after, 0
    while limit is None or len(found) < limit:
        batch = selection.next_keys(cursor, slice_jobs)
        if not batch:
            break
        slice_end = min(clock() + slice_s, deadline)
        rows: list[tuple[int, tuple[Any, ...]]] = []
        for key in batch:
            cursor = key
            job = jobs.get(key)
            if job is not None and (base is None or base(key)):
                rows.append((key, read(job)))
            if clock() > slice_end:
                break
        if rows:
            async with slots if slots is not None else contextlib.nullcontext():
                _over_budget(clock(), deadline, budget_s, tested)
                matched, checked = await asyncio.to_thread(_check, query, rows, deadline)
            found += matched
            tested += checked
            if checked < len(rows):
                _over_budget(clock(), deadline, budget_s, tested)
        _over_budget(clock(), deadline, budget_s, tested)
        await asyncio.sleep(0)
    return found if limit is None else found[:limit]


def _check(
    query: Query, rows: list[tuple[int, tuple[Any, ...]]], deadline: float
) -> tuple[list[int], int]:
    """(the keys whose rows pass, how many rows were checked before the deadline)."""
    check, clock, matched = query.check, time.monotonic, []
    for position, (key, row) in enumerate(rows):
        if clock() > deadline:
            return matched, position
        if check(row):
            matched.append(key)
    return matched, len(rows)


def _over_budget(now: float, deadline: float, budget_s: float, tested: int) -> None:
    if now > deadline:
        raise Busy(
            f"where: the query ran past its time budget of {budget_s:g} s after testing "
            f"{tested} jobs; narrow it (filters such as state or user, fewer or simpler "
            "regular expressions) or ask an administrator to raise query_budget_s",
            limit="query_budget_s",
        )
