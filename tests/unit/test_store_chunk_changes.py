"""Chunk changes: how a batch's changed chunks become rows, and how rows are read back."""

from __future__ import annotations

from dispatcher.jobspec import build_job, parse_spec
from dispatcher.model import CHUNK_DONE, CHUNK_QUEUED, CHUNK_RUNNING, Job
from dispatcher.store.batch import Batch
from dispatcher.store.chunk_changes import ChunkChanges, apply, change_limit


def job(job_id: int, frames: str = "1-32") -> Job:
    return build_job(parse_spec({"title": f"j{job_id}", "frames": frames}), job_id, job_id, "a")


def test_changed_chunks_become_numbered_rows_and_whole_writes_hold_them() -> None:
    changes, first, second = ChunkChanges(), job(1), job(2)
    first.set_chunk(4, CHUNK_RUNNING)
    first.chunk_attempts[4], first.chunk_nodes[4] = 2, 7
    batch = Batch(dirty_cells={1: (first, {4, 2}), 2: (second, {0})}, dirty_chunks={2: second})
    changes.encode(batch)
    assert batch.changes == [(1, 1, 2, CHUNK_QUEUED, 0, -1, 0), (2, 1, 4, CHUNK_RUNNING, 2, 7, 0)]
    assert batch.chunks[2][-2:] == (2, 2)  # second's arrays hold every change up to 2
    assert changes.since_whole == {1: 2} and changes.seq == 2
    assert not changes.wants_whole(first, 1)
    assert changes.wants_whole(first, change_limit(first) - 2)


def test_rows_apply_in_order_to_the_jobs_read_and_recount_them() -> None:
    found = job(1, "1-4")
    applied = apply(
        {1: found, 2: None},
        [(1, 1, CHUNK_RUNNING, 1, 3, 0), (1, 1, CHUNK_DONE, 1, 3, 0), (2, 0, CHUNK_DONE, 1, 1, 0),
         (1, 9, CHUNK_DONE, 1, 1, 0), (1, 0, CHUNK_DONE, 2, 5, 1)],
    )  # fmt: skip
    assert applied == {1: 3}
    assert bytes(found.chunk_status[:2]) == bytes([CHUNK_DONE, CHUNK_DONE])
    assert list(found.chunk_nodes[:2]) == [5, 3] and found.chunk_failures[0] == 1
    assert found.counts[CHUNK_DONE] == 2 and found.cursor == 2
