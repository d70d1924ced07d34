"""The embedded SQLite store: WAL, synchronous=FULL, group commit.

Every change the queue makes is recorded here with a `put_*` call (cheap, in
memory). A supervised flusher task writes everything recorded since the last
batch in one transaction on the store's own thread, then resolves the futures
of every `commit()` that waited for it: one fsync per batch, not per change.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from dispatcher.errors import StoreError
from dispatcher.model import Job, Node
from dispatcher.store import rows

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).parent / "sql"


def _named_queries(text: str) -> dict[str, str]:
    """Split a file of `-- name: x` blocks into {name: sql}."""
    queries: dict[str, str] = {}
    for block in re.split(r"^-- name: ", text, flags=re.MULTILINE)[1:]:
        name, _, sql = block.partition("\n")
        queries[name.strip()] = sql.strip().rstrip(";")
    return queries


Q = _named_queries((SQL_DIR / "queries.sql").read_text())
_rows_json = msgspec.json.Encoder()


@dataclass
class Snapshot:
    """What the store holds, read once at start."""

    meta: dict[str, str]
    jobs: list[Job]
    nodes: list[Node]
    users: dict[str, bytes]


@dataclass
class _Batch:
    jobs: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    chunks: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    deleted_jobs: set[int] = field(default_factory=set)
    runs: dict[tuple[int, int, int], tuple[Any, ...]] = field(default_factory=dict)
    nodes: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    deleted_nodes: set[int] = field(default_factory=set)
    users: dict[str, bytes | None] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    # Named statements in the order recorded (records, statistics, history).
    ops: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any(
            (self.jobs, self.chunks, self.deleted_jobs, self.runs, self.nodes,
             self.deleted_nodes, self.users, self.meta, self.ops)
        )  # fmt: skip


class SqliteStore:
    """The store of one dispatcher: `open()`, `load()`, `put_*()`, `commit()`, `close()`."""

    def __init__(self, path: Path, *, durability: str = "full") -> None:
        self.path = path
        self.durability = durability
        self._db: sqlite3.Connection | None = None
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="corral-store")
        self._pending = _Batch()
        self._dirty_jobs: dict[int, Job] = {}
        self._dirty_chunks: dict[int, Job] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False
        self._pragmas: dict[str, Any] = {}
        self.batches = 0
        self.failure: BaseException | None = None

    # -- lifecycle -----------------------------------------------------------
    async def open(self) -> None:
        await self._run(self._open_sync)
        self._flusher = asyncio.create_task(self._flush_loop(), name="store-flusher")

    def _open_sync(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={'FULL' if self.durability == 'full' else 'NORMAL'}")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA busy_timeout=5000")
        self._db = db
        self._migrate(db)
        self._pragmas = {
            name: db.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("journal_mode", "synchronous", "user_version")
        }

    def _migrate(self, db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        for path in sorted((SQL_DIR / "migrations").glob("*.sql")):
            number = int(path.name.split("_", 1)[0])
            if number <= version:
                continue
            log.info("action=migrate version=%d file=%s", number, path.name)
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement in path.read_text().split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version={number}")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    async def close(self) -> None:
        """Flush what is pending, stop the flusher, close the file. Safe twice."""
        if self._closed:
            return
        if self._flusher is not None and self.failure is None:
            try:
                await self.commit()
            except StoreError:
                log.exception("store: the last flush failed on close")
        self._closed = True
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._thread.shutdown(wait=True)

    def pragmas(self) -> dict[str, Any]:
        """The pragmas as the database reported them when opened."""
        return dict(self._pragmas)

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    # -- reading -------------------------------------------------------------
    async def load(self) -> Snapshot:
        snapshot: Snapshot = await self._run(self._load_sync)
        return snapshot

    def _load_sync(self) -> Snapshot:
        assert self._db is not None
        db = self._db
        meta = dict(db.execute(Q["get_meta"]).fetchall())
        jobs = [rows.job_from_row(row) for row in db.execute(Q["load_jobs"])]
        nodes = [rows.node_from_row(row) for row in db.execute(Q["load_nodes"])]
        users = dict(db.execute(Q["load_users"]).fetchall())
        return Snapshot(meta=meta, jobs=jobs, nodes=nodes, users=users)

    async def runs(self, job_id: int, chunks: Sequence[int] | None = None) -> list[tuple[Any, ...]]:
        """The attempts recorded for a job, or for its `chunks` only (ascending: a listing's
        page, so a million-chunk job is never read whole): (job, chunk, attempt, node,
        state, ...) ordered by chunk and attempt."""
        db = self._db
        assert db is not None
        if chunks is None:
            query, args = Q["load_runs"], (job_id,)
        elif not chunks:
            return []
        elif chunks[-1] - chunks[0] + 1 == len(chunks):  # a run of chunks: a range read
            query, args = Q["load_runs_between"], (job_id, chunks[0], chunks[-1])
        else:
            query, args = Q["load_runs_of_chunks"], (job_id, _rows_json.encode(list(chunks)))
        found: list[tuple[Any, ...]] = await self._run(lambda: db.execute(query, args).fetchall())
        return found

    # -- recording changes ---------------------------------------------------
    def put_job(self, job: Job) -> None:
        """Record the whole job (fields and chunks)."""
        self._dirty_jobs[job.id] = job
        self._dirty_chunks.pop(job.id, None)
        self._wake.set()

    def put_chunks(self, job: Job) -> None:
        """Record the job's chunk arrays only."""
        if job.id not in self._dirty_jobs:
            self._dirty_chunks[job.id] = job
        self._wake.set()

    def delete_job(self, job_id: int) -> None:
        self._dirty_jobs.pop(job_id, None)
        self._dirty_chunks.pop(job_id, None)
        self._pending.deleted_jobs.add(job_id)
        self._wake.set()

    def put_run(
        self,
        ref: tuple[int, int, int],
        node_id: int,
        state: str,
        started: float | None,
        finished: float | None = None,
        exit_code: int | None = None,
        error: str = "",
    ) -> None:
        self._pending.runs[ref] = (*ref, node_id, state, started, finished, exit_code, error)
        self._wake.set()

    def put_node(self, node: Node) -> None:
        self._pending.nodes[node.id] = rows.node_row(node)
        self._pending.deleted_nodes.discard(node.id)
        self._wake.set()

    def delete_node(self, node_id: int) -> None:
        self._pending.nodes.pop(node_id, None)
        self._pending.deleted_nodes.add(node_id)
        self._wake.set()

    def put_user(self, name: str, info: bytes | None) -> None:
        """Record a user's JSON info; None deletes the user."""
        self._pending.users[name] = info
        self._wake.set()

    def put_meta(self, key: str, value: str) -> None:
        self._pending.meta[key] = value
        self._wake.set()

    def put_record(self, kind: str, name: str, info: bytes | None) -> None:
        """Record a named record's JSON (a pool, a repository, ...); None deletes it."""
        if info is None:
            self._pending.ops.append(("delete_record", (kind, name)))
        else:
            self._pending.ops.append(("put_record", (kind, name, info)))
        self._wake.set()

    def put_statistic(self, time: float, info: bytes) -> None:
        self._pending.ops.append(("put_statistic", (time, info)))
        self._wake.set()

    def put_history(self, time: float, job_id: int, event: str, info: bytes) -> None:
        self._pending.ops.append(("put_history", (time, job_id, event, info)))
        self._wake.set()

    def clear_range(self, table: str, start: float, end: float) -> None:
        """Delete the statistics or history rows timed start..end (inclusive)."""
        if table not in ("statistics", "history"):
            raise ValueError(f"no time-ranged table {table!r}")
        self._pending.ops.append((f"clear_{table}", (start, end)))
        self._wake.set()

    async def records(self) -> list[tuple[str, str, bytes]]:
        """Every named record: (kind, name, info)."""
        assert self._db is not None
        found: list[tuple[str, str, bytes]] = await self._run(
            lambda: self._db.execute(Q["load_records"]).fetchall()
        )
        return found

    async def bounds(self, table: str) -> tuple[float | None, float | None, int]:
        """(first time, last time, rows) of the statistics or history table."""
        if table not in ("statistics", "history"):
            raise ValueError(f"no time-ranged table {table!r}")
        assert self._db is not None
        row = await self._run(lambda: self._db.execute(Q[f"{table}_bounds"]).fetchone())
        return row[0], row[1], int(row[2])

    async def history(self, start: float, end: float) -> list[tuple[float, int, str, bytes]]:
        assert self._db is not None
        found: list[tuple[float, int, str, bytes]] = await self._run(
            lambda: self._db.execute(Q["load_history"], (start, end)).fetchall()
        )
        return found

    # -- committing ----------------------------------------------------------
    def commit_future(self) -> asyncio.Future[None]:
        """A future resolved once everything recorded so far is durable."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.failure is not None:
            future.set_exception(StoreError(f"the store failed: {self.failure}"))
            return future
        self._waiters.append(future)
        self._wake.set()
        return future

    async def commit(self) -> None:
        await self.commit_future()

    def _take(self) -> _Batch:
        batch, self._pending = self._pending, _Batch()
        for job_id, job in self._dirty_jobs.items():
            batch.jobs[job_id] = (job_id, rows.job_spec(job), *rows.job_chunks(job))
        for job_id, job in self._dirty_chunks.items():
            batch.chunks[job_id] = (*rows.job_chunks(job), job_id)
        self._dirty_jobs.clear()
        self._dirty_chunks.clear()
        return batch

    async def _flush_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch = self._take()
            waiters, self._waiters = self._waiters, []
            try:
                if batch:
                    await self._run(self._write, batch)
                    self.batches += 1
            except Exception as exc:  # a broken disk: fail every waiter, accept no more
                self.failure = exc
                log.critical("action=store_failed error=%s; no further change is accepted", exc)
                error = StoreError(f"the store failed: {exc}")
                for future in waiters + self._waiters:
                    if not future.done():
                        future.set_exception(error)
                return
            for future in waiters:
                if not future.done():
                    future.set_result(None)

    def _write(self, batch: _Batch) -> None:
        db = self._db
        assert db is not None
        db.execute("BEGIN")
        try:
            if batch.deleted_jobs:
                ids = [(job_id,) for job_id in batch.deleted_jobs]
                db.executemany(Q["delete_job"], ids)
                db.executemany(Q["delete_job_runs"], ids)
            db.executemany(Q["put_job"], batch.jobs.values())
            db.executemany(Q["put_job_chunks"], batch.chunks.values())
            runs = [run for key, run in batch.runs.items() if key[0] not in batch.deleted_jobs]
            if runs:
                db.execute(Q["put_runs_json"], (_rows_json.encode(runs),))
            db.executemany(Q["put_node"], batch.nodes.values())
            db.executemany(Q["delete_node"], [(node_id,) for node_id in batch.deleted_nodes])
            for name, info in batch.users.items():
                if info is None:
                    db.execute(Q["delete_user"], (name,))
                else:
                    db.execute(Q["put_user"], (name, info))
            db.executemany(Q["put_meta"], batch.meta.items())
            for name, params in batch.ops:
                db.execute(Q[name], params)
            db.execute("COMMIT")
        except BaseException as exc:
            db.execute("ROLLBACK")
            raise StoreError(str(exc)) from exc
