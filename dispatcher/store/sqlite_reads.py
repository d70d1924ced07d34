"""What the SQLite store reads back from its file: the snapshot a dispatcher starts
from (`load`, on the store's thread) and the stored copy of every record a refused
batch touched (`read_back`, on the loop: no await, so nothing is recorded between
reading and putting memory back)."""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from dispatcher.errors import StoreError
from dispatcher.model import Job, Node
from dispatcher.store import chunk_changes, rows, sqlite_changes
from dispatcher.store.batch import Batch, Refusal
from dispatcher.store.chunk_changes import ChunkChanges
from dispatcher.store.sqlite_queries import Q

_ids_json = msgspec.json.Encoder()


@dataclass
class Snapshot:
    """What the store holds, read once at start."""

    meta: dict[str, str]
    jobs: list[Job]
    nodes: list[Node]
    users: dict[str, bytes]
    failed_on: dict[tuple[int, int], set[int]] = field(default_factory=dict)
    memory_needed: dict[tuple[int, int], int] = field(default_factory=dict)
    node_failures: Counter[tuple[int, int]] = field(default_factory=Counter)


def load(db: sqlite3.Connection, changes: ChunkChanges, path: Path) -> Snapshot:
    """Everything the store holds; `changes` starts from the chunk changes found, and
    the dead ones are pruned (a farm that restarts often would never reach a prune
    counted in memory)."""
    meta = dict(db.execute(Q["get_meta"]).fetchall())
    jobs = [rows.job_from_row(row) for row in db.execute(Q["load_jobs"])]
    sqlite_changes.load(db, jobs, changes, path)
    nodes = [rows.node_from_row(row) for row in db.execute(Q["load_nodes"])]
    users = dict(db.execute(Q["load_users"]).fetchall())
    snapshot = Snapshot(meta=meta, jobs=jobs, nodes=nodes, users=users)
    chunk_failures(db.execute(Q["load_chunk_failures"]), snapshot.failed_on, snapshot.memory_needed)
    for job_id, node_id, failures in db.execute(Q["load_node_failures"]):
        snapshot.node_failures[(job_id, node_id)] = failures
    sqlite_changes.prune(db, changes.seq)
    return snapshot


def read_back(db: sqlite3.Connection, batch: Batch, error: StoreError) -> Refusal:
    """The stored copy of every record `batch` touched."""
    refusal = Refusal(error=error)
    for job_id in sorted(batch.touched_jobs()):
        row = db.execute(Q["get_job"], (job_id,)).fetchone()
        refusal.jobs[job_id] = None if row is None else rows.job_from_row(row)
        chunk_failures(
            db.execute(Q["job_chunk_failures"], (job_id,)),
            refusal.failed_on,
            refusal.memory_needed,
        )
        for job, node_id, failures in db.execute(Q["job_node_failures"], (job_id,)):
            refusal.node_failures[(job, node_id)] = failures
    stored = [job_id for job_id, job in refusal.jobs.items() if job is not None]
    if stored:
        found = db.execute(Q["jobs_chunk_changes"], (_ids_json.encode(stored),))
        chunk_changes.apply(refusal.jobs, found)
    for node_id in sorted(batch.failure_nodes):
        for job, node, failures in db.execute(Q["node_node_failures"], (node_id,)):
            refusal.node_failures[(job, node)] = failures
    refusal.failure_nodes = set(batch.failure_nodes)
    for node_id in sorted(batch.touched_nodes()):
        row = db.execute(Q["get_node"], (node_id,)).fetchone()
        refusal.nodes[node_id] = None if row is None else rows.node_from_row(row)
    for name in batch.users:
        row = db.execute(Q["get_user"], (name,)).fetchone()
        refusal.users[name] = None if row is None else row[0]
    for kind, name in batch.records:
        row = db.execute(Q["get_record"], (kind, name)).fetchone()
        refusal.records[(kind, name)] = None if row is None else row[0]
    db.execute("SELECT 1").fetchall()  # (ends the implicit read)
    return refusal


def chunk_failures(
    found: Any,
    failed_on: dict[tuple[int, int], set[int]],
    memory_needed: dict[tuple[int, int], int],
) -> None:
    """Put rows (job, chunk, failed-on nodes as JSON, memory needed) into the maps."""
    for job_id, index, nodes, needed in found:
        if nodes and nodes != "[]":
            failed_on[(job_id, index)] = set(msgspec.json.decode(nodes))
        if needed:
            memory_needed[(job_id, index)] = needed
