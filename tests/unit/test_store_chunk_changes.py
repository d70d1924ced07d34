"""Chunk changes: how a batch's changed chunks become rows, and how rows are read back."""

from __future__ import annotations

from collections import Counter

import pytest

from dispatcher.jobspec import build_job, parse_spec
from dispatcher.model import CHUNK_DONE, CHUNK_QUEUED, CHUNK_RUNNING, Job
from dispatcher.store.batch import Batch
from dispatcher.store.chunk_changes import (
    ChunkChanges,
    DamagedChange,
    apply,
    change_limit,
    pack,
    pending_after,
    unpack,
)


def job(job_id: int, frames: str = "1-32") -> Job:
    return build_job(parse_spec({"title": f"j{job_id}", "frames": frames}), job_id, job_id, "a")


def test_the_chunks_a_batch_changed_become_one_numbered_row_per_job() -> None:
    changes, first, second = ChunkChanges(), job(1), job(2)
    first.set_chunk(4, CHUNK_RUNNING)
    first.chunk_attempts[4], first.chunk_nodes[4] = 2, 7
    batch = Batch(dirty_cells={1: (first, {4, 2}), 2: (second, {0})}, dirty_chunks={2: second})
    changes.encode(batch)
    ((seq, job_id, cells),) = batch.changes
    assert (seq, job_id) == (1, 1)
    assert list(unpack(cells)) == [(2, CHUNK_QUEUED, 0, -1, 0), (4, CHUNK_RUNNING, 2, 7, 0)]
    assert batch.chunks[2][-2:] == (1, 2)  # second's arrays hold every change up to 1
    assert changes.since_whole == {1: 2} and changes.seq == 1
    assert not changes.wants_whole(first, 1)
    assert changes.wants_whole(first, change_limit(first) - 2)


def test_rows_apply_in_order_to_the_jobs_read_and_recount_them() -> None:
    found, other = job(1, "1-4"), job(2, "1-4")
    running = job(1, "1-4")
    running.set_chunk(1, CHUNK_RUNNING)
    running.chunk_nodes[1] = 3
    done = job(1, "1-4")
    for index in (0, 1):
        done.set_chunk(index, CHUNK_DONE)
        done.chunk_nodes[index] = 5 - 2 * index
    done.chunk_failures[0] = 1
    applied = apply(
        {1: found, 2: None},
        [(1, 1, pack(running, [1])), (2, 2, pack(other, [0])), (3, 1, pack(done, [0, 1]))],
    )
    assert applied == {1: 3}
    assert bytes(found.chunk_status[:2]) == bytes([CHUNK_DONE, CHUNK_DONE])
    assert list(found.chunk_nodes[:2]) == [5, 3] and found.chunk_failures[0] == 1
    assert found.counts[CHUNK_DONE] == 2 and found.cursor == 2
    with pytest.raises(ValueError, match="13 bytes"):
        list(unpack(bytes(13)))


def test_a_damaged_row_is_named_by_its_number_and_job() -> None:
    found = job(3, "1-4")
    with pytest.raises(DamagedChange, match="chunk change 9 of job 3 is damaged: .*13 bytes"):
        apply({3: found}, [(9, 3, bytes(13))])
    backwards = bytearray(pack(found, [1]))
    backwards[:4] = (-2).to_bytes(4, "little", signed=True)
    with pytest.raises(DamagedChange, match="chunk change 4 of job 3 names chunk -2"):
        apply({3: found}, [(4, 3, bytes(backwards))])
    assert apply({}, [(5, 3, bytes(13))]) == {}  # (a deleted job's rows are not read)


def test_a_chunk_already_pending_in_the_batch_is_not_counted_again() -> None:
    found = job(1)
    assert pending_after(None, 4) == 1
    assert pending_after((found, {4, 5}), 4) == 2
    assert pending_after((found, {4, 5}), 6) == 3


def test_a_store_that_did_not_prune_at_load_prunes_in_its_first_written_batch() -> None:
    changes, found = ChunkChanges(), job(1)
    changes.loaded(9, Counter(), prune_first=True)
    empty = Batch()
    changes.encode(empty)
    assert empty.prune_upto == 0  # (not written: the prune waits for a batch that is)
    batch = Batch(dirty_cells={1: (found, {3})})
    changes.encode(batch)
    assert batch.prune_upto == 10 == batch.changes[0][0]
    later = Batch(dirty_cells={1: (found, {4})})
    changes.encode(later)
    assert later.prune_upto == 0
