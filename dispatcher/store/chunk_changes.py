"""Chunk changes written as small rows instead of whole chunk arrays.

A result changes one chunk of a job, yet a job's row holds the arrays of all its
chunks (10 bytes a chunk): a batch of results spread over many jobs would rewrite
every one of those rows whole. Instead the chunks of a job that a batch changed
become one row of `chunk_changes`, numbered in the order written (`seq`), whose
`cells` pack their indexes and new values (`pack`); a job's row says up to which
change its arrays are current (`changes_from`), and reading a job applies its later
changes in order. A job's arrays are written whole again (its changes become dead)
once it has gathered `change_limit(job)` changed chunks, whenever its row is written
for another reason, and a batch prunes the dead rows every `PRUNE_EVERY` chunks and
after each start: the table holds at most the live changes (a quarter of each job's
chunks) and `PRUNE_EVERY` changed chunks' worth of dead ones.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from dispatcher.model import Job
from dispatcher.store import rows
from dispatcher.store.batch import Batch

PRUNE_EVERY = 100_000  # changed chunks written between two prunes of the dead rows
_CELL_BYTES = 14  # index, status, attempts, node, failures


def change_limit(job: Job) -> int:
    """The changed chunks a job may gather before its arrays are written whole again
    (a quarter of its chunks, at least 16: 14 bytes each against 10 for every chunk)."""
    return max(16, len(job.chunk_status) // 4)


class ChunkChanges:
    """A store's count of chunk changes: the last row number given and, per job, the
    changed chunks written since its arrays were last written whole."""

    def __init__(self) -> None:
        self.seq = 0
        self.since_whole: Counter[int] = Counter()
        self.written = 0  # since the last prune

    def wants_whole(self, job: Job, pending: int) -> bool:
        """True when the job's next change should write its arrays whole instead."""
        return self.since_whole[job.id] + pending >= change_limit(job)

    def loaded(self, last_seq: int, changed: Counter[int], *, prune_first: bool = False) -> None:
        """Start from what a load found: the highest number used, each job's changed
        chunks not in its arrays yet; with `prune_first`, the first batch written
        prunes the dead rows (a store that did not prune at load: a farm that
        restarts often would never reach a prune counted here)."""
        self.seq = last_seq
        self.since_whole = changed
        self.written = PRUNE_EVERY if prune_first else 0

    def encode(self, batch: Batch) -> None:
        """Encode a batch's job rows and chunk changes (on the loop, as it is taken)."""
        written = 0
        for job_id, (job, cells) in batch.dirty_cells.items():
            if job_id in batch.dirty_jobs or job_id in batch.dirty_chunks:
                continue  # (written whole in this batch)
            if max(cells) >= len(job.chunk_status):  # (resized since: write it whole)
                batch.dirty_chunks[job_id] = job
                continue
            self.seq += 1
            batch.changes.append((self.seq, job_id, pack(job, sorted(cells))))
            self.since_whole[job_id] += len(cells)
            written += len(cells)
        whole = self.seq  # the arrays written whole now hold every change numbered so far
        for job_id, job in batch.dirty_jobs.items():
            batch.jobs[job_id] = (job_id, rows.job_spec(job), *rows.job_chunks(job), whole)
            self.since_whole.pop(job_id, None)
        for job_id, job in batch.dirty_chunks.items():
            batch.chunks[job_id] = (*rows.job_chunks(job), whole, job_id)
            self.since_whole.pop(job_id, None)
        for job_id in batch.deleted_jobs:
            self.since_whole.pop(job_id, None)
        self.written += written
        if self.written >= PRUNE_EVERY and batch:  # (an empty batch is not written)
            batch.prune_upto = self.seq
            self.written = 0


def pack(job: Job, indexes: list[int]) -> bytes:
    """The cells of some chunks of a job, little-endian: their indexes (int32), then
    their status (byte), attempts (uint32), node (int32) and failures (byte)."""
    count = len(indexes)
    status, attempts = job.chunk_status, job.chunk_attempts
    nodes, failures = job.chunk_nodes, job.chunk_failures
    return struct.pack(
        f"<{count}i{count}B{count}I{count}i{count}B",
        *indexes,
        *[status[index] for index in indexes],
        *[attempts[index] for index in indexes],
        *[nodes[index] for index in indexes],
        *[failures[index] for index in indexes],
    )


def pending_after(cells: tuple[Job, set[int]] | None, index: int) -> int:
    """A job's changed chunks in a batch once `index` joins them (`cells`: the batch's)."""
    if cells is None:
        return 1
    return len(cells[1]) + (index not in cells[1])


def unpack(cells: bytes) -> Iterator[tuple[int, int, int, int, int]]:
    """(index, status, attempts, node, failures) of each chunk in `pack`'s cells."""
    count, left = divmod(len(cells), _CELL_BYTES)
    if left:
        raise ValueError(f"chunk change cells of {len(cells)} bytes")
    values = struct.unpack(f"<{count}i{count}B{count}I{count}i{count}B", cells)
    return zip(*(values[part * count : (part + 1) * count] for part in range(5)), strict=True)


class DamagedChange(ValueError):
    """A change row whose cells cannot be read: what `apply` raises, naming the row."""


def apply(jobs: Mapping[int, Job | None], changes: Iterable[Sequence[Any]]) -> Counter[int]:
    """Apply change rows (seq, job_id, cells), in order, to the jobs read with them; the
    changed chunks applied per job. A row that cannot be read raises DamagedChange."""
    applied: Counter[int] = Counter()
    touched: dict[int, Job] = {}
    for seq, job_id, cells in changes:
        job = jobs.get(job_id)
        if job is None:
            continue
        try:
            found = list(unpack(bytes(cells)))
        except (ValueError, struct.error) as exc:
            raise DamagedChange(f"chunk change {seq} of job {job_id} is damaged: {exc}") from exc
        size = len(job.chunk_status)
        for index, status, attempts, node, failures in found:
            if index < 0:
                raise DamagedChange(f"chunk change {seq} of job {job_id} names chunk {index}")
            if index < size:
                job.chunk_status[index] = status
                job.chunk_attempts[index] = attempts
                job.chunk_nodes[index] = node
                job.chunk_failures[index] = failures
                applied[job_id] += 1
        touched[job_id] = job
    for job in touched.values():
        job.recount()
    return applied


def check_rows(found: Iterable[Sequence[Any]], listed: int = 20) -> tuple[list[str], int]:
    """What is wrong with change rows (seq, job_id, cells, the job's chunk count and
    changes_from; None for a job that does not exist): up to `listed` problems, and
    how many rows belong to deleted jobs (not a problem: the next prune drops them)."""
    problems: list[str] = []
    orphans = 0
    for seq, job_id, cells, chunks, changes_from in found:
        if chunks is None:
            orphans += 1
            continue
        if len(cells) % _CELL_BYTES:
            problems.append(
                f"chunk change {seq} of job {job_id}: its cells are {len(cells)} bytes, "
                f"not a multiple of {_CELL_BYTES}"
            )
        elif seq > changes_from:  # (a row the job's arrays hold already is never read)
            bad = [index for index, *_ in unpack(bytes(cells)) if not 0 <= index < chunks]
            if bad:
                problems.append(
                    f"chunk change {seq} of job {job_id} names chunk {bad[0]}, past its "
                    f"{chunks} chunks"
                )
        if len(problems) >= listed:
            break
    return problems, orphans


def orphans_note(orphans: int) -> str:
    return f"{orphans} chunk change rows of deleted jobs (the next prune or start drops them)"
