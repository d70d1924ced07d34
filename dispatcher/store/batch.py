"""What one group commit carries, and what the dispatcher gets back when it is refused.

A `Batch` holds the changes recorded since the last commit: encoded rows and the
live jobs whose rows are encoded when the batch is written. It also remembers
every record it touched, so that a refused batch can be taken back: the store
reads its own copy of those records into a `Refusal`, and the dispatcher puts its
memory back to what is on disk (dispatcher/store/refusal.py).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from dispatcher.errors import StoreError
from dispatcher.model import Job, Node

# Statements whose rows are pure records of the past (samples, job history):
# a refused batch drops them, nothing in memory depends on them.
_TIMED_OPS = frozenset({"put_statistic", "put_history", "clear_statistics", "clear_history"})


@dataclass
class Batch:
    dirty_jobs: dict[int, Job] = field(default_factory=dict)
    dirty_chunks: dict[int, Job] = field(default_factory=dict)
    # Jobs of which only some chunks changed: those chunks' indexes (chunk_changes.py).
    dirty_cells: dict[int, tuple[Job, set[int]]] = field(default_factory=dict)
    changes: list[tuple[Any, ...]] = field(default_factory=list)
    prune_upto: int = 0  # > 0: prune the dead chunk changes in this batch
    jobs: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    chunks: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    deleted_jobs: set[int] = field(default_factory=set)
    runs: dict[tuple[int, int, int], tuple[Any, ...]] = field(default_factory=dict)
    nodes: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    deleted_nodes: set[int] = field(default_factory=set)
    users: dict[str, bytes | None] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    # Named statements in the order recorded (records, failures, statistics, history).
    ops: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    # Records touched by `ops`, for taking the batch back.
    failure_jobs: set[int] = field(default_factory=set)
    failure_nodes: set[int] = field(default_factory=set)
    records: set[tuple[str, str]] = field(default_factory=set)

    def __bool__(self) -> bool:
        return any(
            (self.dirty_jobs, self.dirty_chunks, self.dirty_cells, self.jobs, self.chunks,
             self.changes, self.deleted_jobs, self.runs, self.nodes, self.deleted_nodes, self.users, self.meta, self.ops)
        )  # fmt: skip

    def touched_jobs(self) -> set[int]:
        return {
            *self.dirty_jobs, *self.dirty_chunks, *self.dirty_cells, *self.deleted_jobs,
            *(key[0] for key in self.runs), *self.failure_jobs,
        }  # fmt: skip

    def touched_nodes(self) -> set[int]:
        return {*self.nodes, *self.deleted_nodes}

    def absorb(self, later: Batch) -> None:
        """Add a later batch's touched records (both are being refused together)."""
        self.dirty_jobs.update(later.dirty_jobs)
        self.dirty_chunks.update(later.dirty_chunks)
        self.dirty_cells.update(later.dirty_cells)
        self.deleted_jobs |= later.deleted_jobs
        self.runs.update(later.runs)
        self.nodes.update(later.nodes)
        self.deleted_nodes |= later.deleted_nodes
        self.users.update(later.users)
        self.meta.update(later.meta)
        self.ops.extend(later.ops)
        self.failure_jobs |= later.failure_jobs
        self.failure_nodes |= later.failure_nodes
        self.records |= later.records

    def describe(self) -> str:
        """A short summary for the log line of a refused batch."""
        jobs = sorted(self.touched_jobs())
        shown = ",".join(str(job) for job in jobs[:10]) + ("..." if len(jobs) > 10 else "")
        rows = sum(name not in _TIMED_OPS for name, _ in self.ops)
        return f"jobs=[{shown}] nodes={len(self.touched_nodes())} users={len(self.users)} records={rows}"


@dataclass
class Refusal:
    """The store's copy of every record a refused batch touched (None: not stored).

    `failed_on`, `memory_needed` and `node_failures` hold the stored failure memory
    of `failure_jobs` (every job in `jobs`) and `failure_nodes`.
    """

    error: StoreError
    jobs: dict[int, Job | None] = field(default_factory=dict)
    nodes: dict[int, Node | None] = field(default_factory=dict)
    users: dict[str, bytes | None] = field(default_factory=dict)
    records: dict[tuple[str, str], bytes | None] = field(default_factory=dict)
    failed_on: dict[tuple[int, int], set[int]] = field(default_factory=dict)
    memory_needed: dict[tuple[int, int], int] = field(default_factory=dict)
    node_failures: Counter[tuple[int, int]] = field(default_factory=Counter)
    failure_nodes: set[int] = field(default_factory=set)
