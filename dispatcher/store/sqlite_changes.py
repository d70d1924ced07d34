"""The SQLite store's chunk changes on disk (store/chunk_changes.py): reading them
at load, pruning the dead ones after it, and writing every job's arrays whole at a
clean close, so that a cleanly stopped dispatcher leaves no change that an older
Corral (before schema version 7) would not read. Every function runs on the store's
own thread, in its own transaction: none is part of an acknowledged batch.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import msgspec

from dispatcher.errors import StartupError
from dispatcher.model import Job
from dispatcher.store import chunk_changes, rows
from dispatcher.store.chunk_changes import ChunkChanges
from dispatcher.store.sqlite_queries import Q

log = logging.getLogger(__name__)
_ids_json = msgspec.json.Encoder()


def load(db: sqlite3.Connection, jobs: list[Job], changes: ChunkChanges, path: Path) -> None:
    """Apply the stored changes to the jobs just read and start `changes` from them."""
    try:
        changed = chunk_changes.apply(
            {job.id: job for job in jobs}, db.execute(Q["load_chunk_changes"])
        )
    except chunk_changes.DamagedChange as exc:
        raise StartupError(
            f"{path}: {exc}: restore it from a backup; 'corral store check' lists the damage",
            path=str(path),
        ) from exc
    changes.loaded(db.execute(Q["last_chunk_change"]).fetchone()[0], changed)


def prune(db: sqlite3.Connection, upto: int) -> int:
    """Delete the changes their jobs' arrays hold, and those of deleted jobs up to
    `upto`; returns the rows deleted."""
    db.execute("BEGIN IMMEDIATE")
    try:
        deleted = db.execute(Q["prune_chunk_changes"], (upto,)).rowcount
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return deleted


def fold(db: sqlite3.Connection) -> int:
    """Write the arrays of every job with changes not in them whole and delete every
    change row (at a clean close, once everything acknowledged is written); returns
    the jobs written."""
    db.execute("BEGIN IMMEDIATE")
    try:
        upto = db.execute(Q["last_chunk_change"]).fetchone()[0]
        ids = [row[0] for row in db.execute(Q["jobs_with_chunk_changes"])]
        jobs: dict[int, Job | None] = {}
        for job_id in ids:
            row = db.execute(Q["get_job"], (job_id,)).fetchone()
            jobs[job_id] = None if row is None else rows.job_from_row(row)
        if ids:
            chunk_changes.apply(jobs, db.execute(Q["jobs_chunk_changes"], (_ids_json.encode(ids),)))
        db.executemany(
            Q["put_job_chunks"],
            [(*rows.job_chunks(job), upto, job.id) for job in jobs.values() if job is not None],
        )
        db.execute(Q["prune_chunk_changes"], (upto,))
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return len(ids)
