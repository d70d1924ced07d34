"""Running a query over the queue's jobs without holding the loop.

The candidates come from a listing's Selection (its own filters first); the query
tests them in slices of at most SLICE_JOBS jobs and SLICE_S seconds, the loop running
other work between slices, and the whole run has a time budget: past it the query
ends with Busy (503), whatever it found so far dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from dispatcher.errors import Busy
from dispatcher.listing import Selection
from dispatcher.model import Job
from dispatcher.query.grammar import Query

SLICE_JOBS = 256
SLICE_S = 0.005


async def matching_keys(
    query: Query,
    selection: Selection,
    jobs: Mapping[int, Job],
    *,
    budget_s: float,
    after: int = -1,
    limit: int | None = None,
    slice_jobs: int = SLICE_JOBS,
    slice_s: float = SLICE_S,
) -> list[int]:
    """The keys after `after` that pass the selection's test and the query, in order, at
    most `limit` of them; Busy when the run takes longer than `budget_s` seconds."""
    clock = time.monotonic
    started = clock()
    deadline = started + budget_s
    base, matches = selection.match, query.matches
    found: list[int] = []
    cursor, scanned = after, 0
    while limit is None or len(found) < limit:
        batch = selection.next_keys(cursor, slice_jobs)
        if not batch:
            break
        slice_end = min(clock() + slice_s, deadline)
        for position, key in enumerate(batch, start=1):
            cursor = key
            job = jobs.get(key)
            if job is not None and (base is None or base(key)) and matches(job):
                found.append(key)
                if limit is not None and len(found) >= limit:
                    break
            if clock() > slice_end:
                scanned += position
                break
        else:
            scanned += len(batch)
        if clock() > deadline:
            raise Busy(
                f"where: the query ran past its time budget of {budget_s:g} s after testing "
                f"{scanned} jobs; narrow it (filters such as state or user, fewer or simpler "
                "regular expressions) or ask an administrator to raise query_budget_s",
                limit="query_budget_s",
            )
        await asyncio.sleep(0)
    return found
