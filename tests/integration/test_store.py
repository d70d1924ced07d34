"""The SQLite store on a real file: what is committed comes back, batched."""

from __future__ import annotations

import asyncio
import sqlite3
import struct
from pathlib import Path
from typing import Any

import pytest

from dispatcher.errors import StartupError
from dispatcher.jobspec import build_job, parse_spec
from dispatcher.model import CHUNK_DONE, CHUNK_QUEUED, CHUNK_RUNNING, Job, Node, Status
from dispatcher.queue import Queue
from dispatcher.store import chunk_changes, maintenance
from dispatcher.store.sqlite import SQL_DIR, SqliteStore


async def test_committed_jobs_nodes_users_come_back(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "corral.db")
    await store.open()
    job = build_job(parse_spec({"title": "kept", "frames": "-5-5", "by": "0.5", "batch": 3,
                                "depends_on": [{"job": 9, "mode": "failure"}], "data": {"k": [1, 2]}}), 1, 1, "ann")  # fmt: skip
    job.set_chunk(2, CHUNK_DONE)
    job.chunk_attempts[2] = 4
    store.put_job(job)
    store.put_run((1, 2, 4), 7, "done", 1.0, 2.0, 0, "")
    store.put_node(Node(id=7, name="box", instance=1, pools=["gpu"], excluded_jobs={1}))
    store.put_user("ann", b'{"permissions": ["submit"]}')
    store.put_meta("next_job_id", "2")
    await store.commit()
    await store.close()
    await store.close()  # safe twice

    again = SqliteStore(tmp_path / "corral.db")
    await again.open()
    snapshot = await again.load()
    (loaded,) = snapshot.jobs
    assert (loaded.title, loaded.start, loaded.end, loaded.by, loaded.user) == (
        "kept",
        -5,
        5,
        job.by,
        "ann",
    )
    assert bytes(loaded.chunk_status) == bytes(job.chunk_status) and loaded.chunk_attempts[2] == 4
    assert loaded.depends_on[0].job_id == 9 and loaded.depends_on[0].mode.value == "failure"
    assert loaded.data == {"k": [1, 2]} and loaded.counts[CHUNK_DONE] == 1
    assert snapshot.nodes[0].pools == ["gpu"] and snapshot.nodes[0].excluded_jobs == {1}
    assert snapshot.meta["next_job_id"] == "2" and "ann" in snapshot.users
    assert (await again.runs(1))[0][:5] == (1, 2, 4, 7, "done")
    latest = max(int(path.name.split("_", 1)[0]) for path in (SQL_DIR / "migrations").glob("*.sql"))
    assert again.pragmas() == {"journal_mode": "wal", "synchronous": 2, "user_version": latest}
    again.delete_job(1)
    await again.commit()
    assert await again.runs(1) == []
    await again.close()


async def test_many_changes_in_one_tick_make_one_batch(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "corral.db", durability="normal")
    await store.open()
    before = store.batches
    waiters = []
    for job_id in range(1, 201):
        store.put_job(build_job(parse_spec({"title": f"j{job_id}"}), job_id, job_id, "a"))
        waiters.append(store.commit_future())
    await asyncio.gather(*waiters)
    assert store.batches - before <= 2
    assert store.pragmas()["synchronous"] == 1
    assert len((await store.load()).jobs) == 200
    await store.close()


async def test_changed_chunks_are_one_small_row_a_batch_until_their_job_has_many(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chunk_changes, "PRUNE_EVERY", 40)
    store = SqliteStore(tmp_path / "corral.db")
    await store.open()
    job = build_job(parse_spec({"title": "big", "frames": "1-800"}), 1, 1, "a")
    store.put_job(job)
    await store.commit()
    db = sqlite3.connect(tmp_path / "corral.db")

    def stored() -> tuple[int, bytes, int]:
        changes_from, status = db.execute(
            "SELECT changes_from, chunk_status FROM jobs WHERE id = 1"
        ).fetchone()
        return changes_from, status, db.execute("SELECT COUNT(*) FROM chunk_changes").fetchone()[0]

    before = stored()
    for index in range(3):
        job.set_chunk(index, CHUNK_DONE)
        store.put_chunks(job, index)
    await store.commit()
    changes_from, status, rows = stored()
    assert (changes_from, status, rows) == (before[0], before[1], 1)  # the row is untouched

    limit = chunk_changes.change_limit(job)  # 200 for 800 chunks
    for index in range(3, limit + 45):
        job.set_chunk(index, CHUNK_DONE)
        store.put_chunks(job, index)
        await store.commit()
    changes_from, status, rows = stored()
    assert changes_from > 0 and status[:limit] == bytes([CHUNK_DONE]) * limit
    assert rows < 50  # written whole, and the rows its arrays hold were pruned
    db.close()
    await store.close()


async def test_a_batch_of_attempts_lands_whole_whatever_its_count(tmp_path: Path) -> None:
    # (the rows go in statements of 512, 256 ... 1 rows: 777 takes one of most sizes)
    store = SqliteStore(tmp_path / "corral.db", durability="normal")
    await store.open()
    for chunk in range(777):
        store.put_run((1, chunk, 1), 7, "running", 100.0 + chunk)
    await store.commit()
    for chunk in range(0, 777, 3):  # 259 of them end: the same keys, other values
        store.put_run((1, chunk, 1), 8, "done", 1.0, 2.0 + chunk, 0, "", (chunk, 1, 2))
    store.put_run((2, 0, 1), 7, "running", 5.0)
    await store.commit()
    stored = await store.runs(1)
    assert [row[1] for row in stored] == list(range(777))
    assert stored[3] == (1, 3, 1, 8, "done", 1.0, 5.0, 0, "", 3, 1, 2)
    assert stored[4] == (1, 4, 1, 7, "running", 104.0, None, None, "", 0, 0, 0)
    assert sum(row[4] == "done" for row in stored) == 259 and len(await store.runs(2)) == 1
    await store.close()


async def test_attempt_rows_fit_a_connection_that_allows_999_parameters(tmp_path: Path) -> None:
    # (SQLite before 3.32 binds at most 999: the 512-row statement takes 6,144)
    store = SqliteStore(tmp_path / "corral.db", durability="normal")
    await store.open()
    assert store._db is not None
    store._db.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
    for chunk in range(300):
        store.put_run((1, chunk, 1), 7, "running", 100.0 + chunk)
    await store.commit()
    assert [row[1] for row in await store.runs(1)] == list(range(300))
    await store.close()


async def test_a_schema_newer_than_this_corral_is_refused_unchanged(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "corral.db")
    await store.open()
    await store.close()
    db = sqlite3.connect(tmp_path / "corral.db")
    latest = db.execute("PRAGMA user_version").fetchone()[0]
    db.execute(f"PRAGMA user_version={latest + 1}")
    db.close()
    newer = SqliteStore(tmp_path / "corral.db")
    with pytest.raises(StartupError, match=f"schema version {latest + 1}, newer"):
        await newer.open()
    await newer.close()
    db = sqlite3.connect(tmp_path / "corral.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == latest + 1
    db.close()


async def _with_changes(path: Path) -> SqliteStore:
    """A store holding job 1 (800 chunks) with chunks 0..2 done as change rows, and
    job 2 deleted after a change: not closed (as after a crash)."""
    store = SqliteStore(path)
    await store.open()
    job, gone = (
        build_job(parse_spec({"title": "j", "frames": "1-800"}), n, n, "a") for n in (1, 2)
    )
    store.put_job(job)
    store.put_job(gone)
    await store.commit()
    for index in range(3):
        job.set_chunk(index, CHUNK_DONE)
        store.put_chunks(job, index)
        gone.set_chunk(index, CHUNK_DONE)
        store.put_chunks(gone, index)
        await store.commit()
    store.delete_job(2)
    await store.commit()
    return store


def _stored(path: Path) -> tuple[bytes, int]:
    db = sqlite3.connect(path)
    try:
        (status,) = db.execute("SELECT chunk_status FROM jobs WHERE id = 1").fetchone()
        return bytes(status[:4]), db.execute("SELECT COUNT(*) FROM chunk_changes").fetchone()[0]
    finally:
        db.close()


async def test_a_clean_close_writes_the_arrays_whole_and_leaves_no_change_rows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "corral.db"
    store = await _with_changes(path)
    assert _stored(path) == (bytes(4), 6)
    await store.close()
    assert _stored(path) == (bytes([CHUNK_DONE] * 3) + bytes(1), 0)  # what an older Corral reads


async def test_load_prunes_the_dead_change_rows_a_crash_left(tmp_path: Path) -> None:
    path = tmp_path / "corral.db"
    crashed = await _with_changes(path)  # (never closed: its rows stay)
    db = sqlite3.connect(path)
    db.execute("UPDATE jobs SET changes_from = 3 WHERE id = 1")  # (as if written whole at 3)
    db.execute(
        "UPDATE jobs SET chunk_status = ? WHERE id = 1", (bytes([CHUNK_DONE] * 2 + [0] * 798),)
    )
    db.commit()
    db.close()
    again = SqliteStore(path)
    await again.open()
    (job,) = (await again.load()).jobs
    assert bytes(job.chunk_status[:4]) == bytes([CHUNK_DONE] * 3) + bytes(1)
    assert _stored(path)[1] == 1  # job 2's rows and job 1's first two are gone
    await again.close()
    await crashed.close()


async def test_damaged_change_cells_stop_the_start_naming_the_row(tmp_path: Path) -> None:
    path = tmp_path / "corral.db"
    store = await _with_changes(path)
    db = sqlite3.connect(path)
    (seq,) = db.execute("SELECT max(seq) FROM chunk_changes WHERE job_id = 1").fetchone()
    db.execute("UPDATE chunk_changes SET cells = x'0102' WHERE seq = ?", (seq,))
    db.commit()
    db.close()
    again = SqliteStore(path)
    await again.open()
    with pytest.raises(StartupError, match=f"chunk change {seq} of job 1 is damaged"):
        await again.load()
    await again.close()
    store._db, store._reader = None, None  # (a crashed dispatcher: nothing is written at close)
    await store.close()


async def _one_job_queue(path: Path, spec: dict[str, Any]) -> tuple[SqliteStore, Queue, Job]:
    """An open store at `path`, a queue on it and the one job `spec` submits."""
    store = SqliteStore(path)
    await store.open()
    queue = Queue(store)
    (job,) = queue.submit([parse_spec(spec)], "ann")
    return store, queue, job


async def _reloaded_job(path: Path) -> Job:
    """The one job the store at `path` holds, as a store opened again loads it."""
    again = SqliteStore(path)
    await again.open()
    (loaded,) = (await again.load()).jobs
    await again.close()
    return loaded


async def test_an_operator_or_a_lost_node_changing_one_chunk_writes_one_change_row(
    tmp_path: Path,
) -> None:
    path = tmp_path / "corral.db"
    store, queue, job = await _one_job_queue(path, {"title": "big", "frames": "1-800", "batch": 1})
    queue.nodes[7] = Node(id=7, name="box", instance=1)
    ref = queue.start_attempt(job, 0, 7)
    await store.commit()
    db = sqlite3.connect(path)
    before = db.execute("SELECT changes_from, chunk_status FROM jobs").fetchone()
    assert before[1][0] == CHUNK_RUNNING

    assert queue.requeue_attempt(ref, "node lost")
    await store.commit()
    queue.set_chunk_status(job, 5, Status.DONE)
    await store.commit()
    assert db.execute("SELECT changes_from, chunk_status FROM jobs").fetchone() == before
    assert db.execute("SELECT COUNT(*) FROM chunk_changes").fetchone()[0] == 2  # (not whole)
    db.close()
    await store.close()
    loaded = await _reloaded_job(path)
    assert loaded.chunk_status[:6] == bytearray([CHUNK_QUEUED] * 5 + [CHUNK_DONE])
    assert loaded.chunk_attempts[0] == 1


async def test_store_check_finds_damaged_change_rows_and_notes_a_deleted_jobs(
    tmp_path: Path,
) -> None:
    path = tmp_path / "corral.db"
    store = await _with_changes(path)
    report = maintenance.check(path)
    assert report.ok and report.notes == [chunk_changes.orphans_note(3)]  # (job 2 deleted)
    db = sqlite3.connect(path)
    db.execute("UPDATE chunk_changes SET cells = ? WHERE seq = 3", (bytes(13),))
    past = struct.pack("<iBIiB", 900, CHUNK_DONE, 1, -1, 0)
    db.execute("INSERT INTO chunk_changes VALUES (99, 1, ?)", (past,))
    db.execute("INSERT INTO chunk_changes VALUES (98, 1, ?)", (past,))
    db.execute("UPDATE jobs SET changes_from = 98 WHERE id = 1")  # (98 is held: never read)
    db.commit()
    db.close()
    report = maintenance.check(path)
    assert report.problems == [
        "chunk change 3 of job 1: its cells are 13 bytes, not a multiple of 14",
        "chunk change 99 of job 1 names chunk 900, past its 800 chunks",
    ]
    await store.close()


async def test_a_finished_job_with_a_chunk_queued_again_is_stored_unfinished(
    tmp_path: Path,
) -> None:
    path = tmp_path / "corral.db"
    store, queue, job = await _one_job_queue(path, {"title": "two", "frames": "1-2", "batch": 1})
    for index in (0, 1):
        queue.set_chunk_status(job, index, Status.DONE)
    await store.commit()
    assert job.time_finished is not None
    queue.set_chunk_status(job, 0, Status.QUEUED)
    await store.commit()
    await store.close()
    loaded = await _reloaded_job(path)
    assert (loaded.chunk_status[0], loaded.time_finished) == (CHUNK_QUEUED, None)


async def test_a_read_of_attempts_sees_those_recorded_and_not_yet_committed(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "corral.db")
    await store.open()
    store.put_run((1, 0, 1), 7, "running", 100.0)
    await store.commit()
    (stored,) = await store.runs(1)
    assert stored[4] == "running"
    # A result's attempt row waits for the next commit; the job shows it done already.
    store.put_run((1, 0, 1), 7, "done", 100.0, 101.0, 0, "", (3, 0, 0))
    store.put_run((1, 2, 1), 7, "running", 101.0)
    store.put_run((2, 0, 1), 7, "running", 101.0)  # another job's
    seen = store.with_unwritten_runs(1, [0], [stored])
    assert [(row[1], row[4], row[9]) for row in seen] == [(0, "done", 3)]
    everything = store.with_unwritten_runs(1, None, [stored])
    assert [(row[1], row[4]) for row in everything] == [(0, "done"), (2, "running")]
    await store.commit()
    assert [(row[1], row[4]) for row in await store.runs(1)] == [(0, "done"), (2, "running")]
    await store.close()
