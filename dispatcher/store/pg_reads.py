"""What the PostgreSQL store reads on one connection, in one consistent snapshot:
the snapshot a dispatcher starts from (`load`) and the stored copy of the records a
refused batch touched (`read_back_into`), as dispatcher/store/sqlite_reads.py does
for SQLite."""

from __future__ import annotations

import asyncpg

from dispatcher.store import chunk_changes, rows
from dispatcher.store.batch import Refusal
from dispatcher.store.chunk_changes import ChunkChanges
from dispatcher.store.pg_schema import Q
from dispatcher.store.sqlite_reads import Snapshot, chunk_failures


async def load(db: asyncpg.Connection, changes: ChunkChanges) -> Snapshot:
    """Everything the store holds; `changes` starts from the chunk changes found (the
    dead ones pruned first)."""
    meta = {key: value for key, value in await db.fetch(Q["get_meta"])}
    jobs = [rows.job_from_row(tuple(row)) for row in await db.fetch(Q["load_jobs"])]
    changed = chunk_changes.apply(
        {job.id: job for job in jobs}, await db.fetch(Q["load_chunk_changes"])
    )
    last = int(await db.fetchval(Q["last_chunk_change"]))
    changes.loaded(last, changed, prune_first=True)
    nodes = [rows.node_from_row(tuple(row)) for row in await db.fetch(Q["load_nodes"])]
    users = {name: bytes(info) for name, info in await db.fetch(Q["load_users"])}
    snapshot = Snapshot(meta=meta, jobs=jobs, nodes=nodes, users=users)
    chunk_failures(
        await db.fetch(Q["load_chunk_failures"]),
        snapshot.failed_on,
        snapshot.memory_needed,
    )
    for job_id, node_id, failures in await db.fetch(Q["load_node_failures"]):
        snapshot.node_failures[(job_id, node_id)] = failures
    return snapshot


async def read_back_into(
    db: asyncpg.Connection,
    refusal: Refusal,
    jobs: set[int],
    nodes: set[int],
    failure_nodes: set[int],
    users: set[str],
    records: set[tuple[str, str]],
) -> None:
    """The stored copy of the given records, added to `refusal`."""
    for job_id in sorted(jobs):
        row = await db.fetchrow(Q["get_job"], job_id)
        refusal.jobs[job_id] = None if row is None else rows.job_from_row(tuple(row))
        chunk_failures(
            await db.fetch(Q["job_chunk_failures"], job_id),
            refusal.failed_on,
            refusal.memory_needed,
        )
        for job, node_id, failures in await db.fetch(Q["job_node_failures"], job_id):
            refusal.node_failures[(job, node_id)] = failures
    stored = [job_id for job_id in sorted(jobs) if refusal.jobs.get(job_id) is not None]
    if stored:
        found = await db.fetch(Q["jobs_chunk_changes"], stored)
        chunk_changes.apply(refusal.jobs, found)
    for node_id in sorted(failure_nodes):
        for job, node, failures in await db.fetch(Q["node_node_failures"], node_id):
            refusal.node_failures[(job, node)] = failures
    for node_id in sorted(nodes):
        row = await db.fetchrow(Q["get_node"], node_id)
        refusal.nodes[node_id] = None if row is None else rows.node_from_row(tuple(row))
    for name in users:
        info = await db.fetchval(Q["get_user"], name)
        refusal.users[name] = None if info is None else bytes(info)
    for kind, name in records:
        info = await db.fetchval(Q["get_record"], kind, name)
        refusal.records[(kind, name)] = None if info is None else bytes(info)
