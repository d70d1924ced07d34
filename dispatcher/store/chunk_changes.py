"""Chunk changes written as small rows instead of whole chunk arrays.

A result changes one chunk of a job, yet a job's row holds the arrays of all its
chunks (10 bytes a chunk): a batch of results spread over many jobs would rewrite
every one of those rows whole. Instead a chunk that changed becomes one row of
`chunk_changes`, numbered in the order written (`seq`); a job's row says up to which
change its arrays are current (`changes_from`), and reading a job applies its later
changes in order. A job's arrays are written whole again (and its changes become
dead) once it has gathered `change_limit(job)` of them, whenever its row is written
for another reason, and a batch prunes the dead rows every `PRUNE_EVERY` changes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dispatcher.model import Job
from dispatcher.store import rows
from dispatcher.store.batch import Batch

PRUNE_EVERY = 100_000  # change rows written between two prunes of the dead ones


def change_limit(job: Job) -> int:
    """The change rows a job may gather before its arrays are written whole again:
    about as many bytes as the arrays (an eighth of the chunks, at least 16)."""
    return max(16, len(job.chunk_status) // 8)


class ChunkChanges:
    """A store's count of change rows: the last number given and, per job, the rows
    written since its arrays were last written whole."""

    def __init__(self) -> None:
        self.seq = 0
        self.since_whole: Counter[int] = Counter()
        self.written = 0  # since the last prune

    def wants_whole(self, job: Job, pending: int) -> bool:
        """True when the job's next change should write its arrays whole instead."""
        return self.since_whole[job.id] + pending >= change_limit(job)

    def loaded(self, last_seq: int, changed: Counter[int]) -> None:
        """Start from what a load found: the highest number used, each job's live rows."""
        self.seq = last_seq
        self.since_whole = changed
        self.written = 0

    def encode(self, batch: Batch) -> None:
        """Encode a batch's job rows and chunk changes (on the loop, as it is taken)."""
        for job_id, (job, cells) in batch.dirty_cells.items():
            if job_id in batch.dirty_jobs or job_id in batch.dirty_chunks:
                continue  # (written whole in this batch)
            if max(cells) >= len(job.chunk_status):  # (resized since: write it whole)
                batch.dirty_chunks[job_id] = job
                continue
            status, attempts = job.chunk_status, job.chunk_attempts
            nodes, failures = job.chunk_nodes, job.chunk_failures
            for index in sorted(cells):
                self.seq += 1
                batch.changes.append(
                    (self.seq, job_id, index, status[index], attempts[index], nodes[index],
                     failures[index])
                )  # fmt: skip
            self.since_whole[job_id] += len(cells)
        whole = self.seq  # the arrays written whole now hold every change numbered so far
        for job_id, job in batch.dirty_jobs.items():
            batch.jobs[job_id] = (job_id, rows.job_spec(job), *rows.job_chunks(job), whole)
            self.since_whole.pop(job_id, None)
        for job_id, job in batch.dirty_chunks.items():
            batch.chunks[job_id] = (*rows.job_chunks(job), whole, job_id)
            self.since_whole.pop(job_id, None)
        for job_id in batch.deleted_jobs:
            self.since_whole.pop(job_id, None)
        self.written += len(batch.changes)
        if self.written >= PRUNE_EVERY:
            batch.prune_upto = self.seq
            self.written = 0


def apply(jobs: Mapping[int, Job | None], changes: Iterable[Sequence[Any]]) -> Counter[int]:
    """Apply change rows (job_id, chunk, status, attempts, node, failures), in order, to
    the jobs read with them; the rows applied per job."""
    applied: Counter[int] = Counter()
    touched: dict[int, Job] = {}
    for job_id, index, status, attempts, node, failures in changes:
        job = jobs.get(job_id)
        if job is None or index >= len(job.chunk_status):
            continue
        job.chunk_status[index] = status
        job.chunk_attempts[index] = attempts
        job.chunk_nodes[index] = node
        job.chunk_failures[index] = failures
        applied[job_id] += 1
        touched[job_id] = job
    for job in touched.values():
        job.recount()
    return applied
